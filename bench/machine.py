"""What every benchmark reports about the machine it ran on."""

from __future__ import annotations

import os
import sys

import torch


def machine() -> dict[str, object]:
    return {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": sys.version.split()[0]}

"""The ``ember`` command: ``ember <subcommand> [hydra overrides]``. Each subcommand is a ``@hydra.main`` entry, so
Hydra's flags (``-m`` multirun, ``--cfg job``, ``--help``) work after the subcommand."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

CONF_DIR = Path(__file__).parent / "conf"

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("ember.launch.run:main", "plan a goal and execute it in simulation (default: stack green on red)"),
    "train": ("ember.launch.train:main", "train a policy: PPO/SAC (algo=...) or from demonstrations (policy=beso|bc)"),
    "eval": ("ember.launch.eval:main", "evaluate a trained chunk policy (BESO or BC) over seeded episodes"),
    "robot-sim": ("ember.launch.robot_sim:main", "run the PyBullet Panda tabletop as a ROS 2 robot (real time)"),
    "data": ("ember.launch.data:main", "record demonstrations (data record) and summarize datasets (data info PATH)"),
}


def usage() -> str:
    lines = ["usage: ember <subcommand> [key=value ...] [hydra flags]", "", "subcommands:"]
    lines += [f"  {name:<10} {desc}" for name, (_, desc) in SUBCOMMANDS.items()]
    lines += [
        "",
        "examples:",
        "  ember run",
        '  ember run goal="put every cube in the tray" seed=3',
        "  ember run plan=my_plan.json",
        "  ember robot-sim seed=3 &  ember run backend=ros seed=3",
        "  ember run -m seed=0,1,2",
        "  ember data record --task tabletop_push_obstacle --episodes 400 --out data/push_obstacle.zarr",
        "  ember train policy=beso task=tabletop_push_obstacle policy.dataset=data/push_obstacle.zarr",
        "  ember eval checkpoint=runs/<train run>/policy.pt steps=3",
        "  ember train task=retarget pipeline=retarget        # several training stages as one command",
    ]
    return "\n".join(lines)


def unknown_option(args: list[str]) -> str | None:
    """The first ``group=option`` override naming no config of that group (``task=tabletopp``), as an error message
    listing the group's options; Hydra's own error exits 1 and lists internal schema entries beside them."""
    if any(a in ("--config-dir", "-cd") or a.startswith(("--config-dir=", "hydra.searchpath")) for a in args):
        return None  # options may come from the user's own config folders
    for arg in args:
        match = re.fullmatch(r"([a-z_]+)=([\w-]+)", arg)
        if match is None or match[2] == "null" or not (CONF_DIR / match[1]).is_dir():
            continue
        options = sorted(p.stem for p in (CONF_DIR / match[1]).glob("*.yaml"))
        if match[2] not in options:
            return f"ember: {arg}: no such {match[1]}; choose one of {options}"
    return None


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return
    name = args[0]
    if name not in SUBCOMMANDS:
        print(f"ember: unknown subcommand {name!r}; choose one of {sorted(SUBCOMMANDS)}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    unknown = unknown_option(args[1:])
    if unknown is not None:
        print(unknown, file=sys.stderr)
        sys.exit(2)
    module, _, attr = SUBCOMMANDS[name][0].partition(":")
    entry = getattr(importlib.import_module(module), attr)
    sys.argv = [f"ember {name}", *args[1:]]
    entry()


if __name__ == "__main__":
    main()

"""What a stage controller reads of a scene (``StageScene``), and one env of an ``HOIVecEnv`` seen that way.

A stage controller (``skills/hoi/scripted.py``) acts on an :class:`~ember.sims.hoi.world.HOIWorld` through five
names: ``model`` and ``data`` (MuJoCo), ``index`` (:class:`~ember.sims.hoi.scene.SceneIndex`), ``tracker.stages``
(the current stage compiled, row 0) and ``stage_info()`` (the compiler's terms of the last evaluation, row 0). The
world has them; :class:`EnvRowView` gives them for env ``i`` of a batched env, so the same controller computes the
base action of a residual policy in training (``HOIVecEnv(residual_scale=...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, Protocol

import numpy as np

from ember.sims.hoi.compiler import CompiledStages
from ember.sims.hoi.scene import SceneIndex


class HasStages(Protocol):
    @property
    def stages(self) -> CompiledStages: ...


class StageScene(Protocol):
    """One scene and its current stage, as a stage controller reads them (``HOIWorld`` is one)."""

    @property
    def model(self) -> Any: ...

    @property
    def data(self) -> Any: ...

    @property
    def index(self) -> SceneIndex: ...

    @property
    def tracker(self) -> HasStages: ...

    def stage_info(self) -> dict[str, np.ndarray]: ...


class SceneController(Protocol):
    """A stage controller on a :class:`StageScene`: ``reset`` when a stage starts, ``act`` once per control period
    (``scene.ACTION_NAMES``, 15 values in [-1, 1])."""

    def reset(self, world: StageScene, agent: str) -> None: ...

    def act(self, world: StageScene, agent: str) -> np.ndarray: ...


ControllerFactory = Callable[[], SceneController]
"""Makes one fresh controller (``HOIVecEnv`` keeps one per env)."""


class _RowStages:
    def __init__(self, source: CompiledStages, i: int) -> None:
        self._source, self._i = source, i

    @property
    def stages(self) -> CompiledStages:
        """Row ``i`` as a one-row ``CompiledStages`` (views into the tracker's arrays)."""
        i = self._i
        return CompiledStages(*(getattr(self._source, f.name)[i : i + 1] for f in fields(CompiledStages)))


class EnvRowView:
    """Env ``i`` of a batched HOI env as a :class:`StageScene`.

    Args:
    model, data: env ``i``'s MuJoCo model and data.
    index: the env's scene index (shared by its envs).
    stages: the env's tracker's compiled stages ``(N, ...)``; row ``i`` is read.
    info: returns the compiler's info of the env's last evaluation (arrays with a leading ``N`` axis).
    i: the row.
    """

    def __init__(
        self,
        model: Any,
        data: Any,
        index: SceneIndex,
        stages: CompiledStages,
        info: Callable[[], Mapping[str, np.ndarray]],
        i: int,
    ) -> None:
        self._model, self._data, self._index, self._info, self.i = model, data, index, info, i
        self._tracker = _RowStages(stages, i)

    @property
    def model(self) -> Any:
        return self._model

    @property
    def data(self) -> Any:
        return self._data

    @property
    def index(self) -> SceneIndex:
        return self._index

    @property
    def tracker(self) -> _RowStages:
        return self._tracker

    def stage_info(self) -> dict[str, np.ndarray]:
        return {k: v[self.i] for k, v in self._info().items()}

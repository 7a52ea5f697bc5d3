"""Score-based diffusion: samplers against an exact mixture denoiser, a trained policy on a bimodal target, BC's
averaging, and exact resume of a killed training run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ember.skills.diffusion.edm import EDM, mixture_denoiser, sample
from ember.skills.diffusion.policy import ChunkPolicy, PolicyConfig
from ember.skills.diffusion.train import Windows, train_policy

MEANS, STDS, WEIGHTS = torch.tensor([-0.7, 0.6]), torch.tensor([0.05, 0.1]), torch.tensor([0.3, 0.7])


@pytest.mark.parametrize(("sampler", "steps"), [("euler", 50), ("heun", 20), ("ancestral", 100)])
def test_sampler_reproduces_a_bimodal_distribution(sampler: str, steps: int) -> None:
    denoise = mixture_denoiser(MEANS, STDS, WEIGHTS)
    x = sample(denoise, (20000, 1), EDM(), steps, sampler, torch.Generator().manual_seed(0)).flatten()
    left = x < 0
    assert abs(left.float().mean().item() - 0.3) < 0.02
    assert abs(x[left].mean().item() + 0.7) < 0.03 and abs(x[~left].mean().item() - 0.6) < 0.03
    assert abs(x[left].std().item() - 0.05) < 0.02 and abs(x[~left].std().item() - 0.1) < 0.03


def test_schedule_and_bad_arguments() -> None:
    sigmas = EDM(sigma_max=1.0, sigma_min=0.001).schedule(3)
    assert sigmas.tolist()[0] == pytest.approx(1.0) and sigmas[-1] == 0 and bool((sigmas[:-1] > sigmas[1:]).all())
    with pytest.raises(ValueError, match="steps must be >= 1"):
        EDM().schedule(0)
    with pytest.raises(ValueError, match="sampler must be one of"):
        sample(mixture_denoiser(MEANS, STDS, WEIGHTS), (2, 1), EDM(), 3, "rk45")
    with pytest.raises(ValueError, match="action_steps"):
        ChunkPolicy(PolicyConfig(row_dim=2, goal_slice=[1, 2], action_dim=1, horizon=4, action_steps=5))
    with pytest.raises(ValueError, match="features must be"):
        ChunkPolicy(PolicyConfig(row_dim=2, goal_slice=[1, 2], action_dim=1, features="polar"))


def _bimodal_windows(n: int = 4096, seed: int = 0) -> Windows:
    g = torch.Generator().manual_seed(seed)
    mode = (torch.rand(n, generator=g) < 0.7).float()
    actions = torch.where(mode > 0, 0.6, -0.6) + 0.05 * torch.randn(n, generator=g)
    return Windows(torch.zeros(n, 1, 2), actions.reshape(n, 1, 1), 1)


def _small(kind: str) -> PolicyConfig:
    return PolicyConfig(
        kind=kind, goal_slice=[1, 2], obs_history=1, horizon=1, action_steps=1, hidden=64, blocks=2, goal_dropout=0.0
    )


def test_trained_diffusion_policy_keeps_both_modes_where_bc_averages(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    data = _bimodal_windows()
    beso, result = train_policy(_small("beso"), data, tmp_path / "beso", 1500, lr=2e-3, ema_decay=0.99)
    assert result.last_loss < 0.7 * result.first_loss  # the loss falls
    rows = torch.zeros(4000, 1, 2)
    for steps in (3, 50):
        a = beso.predict(rows, steps=steps, generator=torch.Generator().manual_seed(1)).flatten()
        right = (a > 0).float().mean().item()
        assert 0.55 < right < 0.85, (steps, right)
        assert abs(a[a > 0].mean().item() - 0.6) < 0.15 and abs(a[a < 0].mean().item() + 0.6) < 0.15
    bc, _ = train_policy(_small("bc"), data, tmp_path / "bc", 600, lr=2e-3, ema_decay=0.99)
    mean = bc.predict(rows[:1]).item()
    assert abs(mean - 0.24) < 0.1  # regression lands between the modes, where no demonstration went


def test_a_killed_training_resumes_exactly(tmp_path: Path) -> None:
    data = _bimodal_windows(512)
    straight, _ = train_policy(_small("beso"), data, tmp_path / "a", 300, batch_size=64, checkpoint_every=100)

    class Killed(Exception):
        pass

    def kill(p: dict[str, float]) -> None:
        if p["step"] == 200:
            raise Killed

    with pytest.raises(Killed):
        train_policy(_small("beso"), data, tmp_path / "b", 300, batch_size=64, checkpoint_every=100, on_progress=kill)
    resumed, result = train_policy(
        _small("beso"), data, tmp_path / "b", 300, batch_size=64, checkpoint_every=100, resume=True
    )
    assert result.steps == 300
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_windows_span_datasets_and_keep_only_successes(tmp_path: Path) -> None:
    import numpy as np

    from ember.skills.data.dataset import DatasetError, EpisodeDataset, EpisodeWriter, Field
    from ember.skills.diffusion.train import make_windows

    fields = {"policy": Field((3,)), "action": Field((2,))}
    for name, outcomes in (("a", [True, False]), ("b", [True])):
        writer = EpisodeWriter(tmp_path / name, fields)
        for k, ok in enumerate(outcomes):
            steps = np.arange(5 * 3, dtype=np.float32).reshape(5, 3) + 100 * k
            writer.add({"policy": steps, "action": np.full((5, 2), k, np.float32)}, success=ok)
    data = [EpisodeDataset(tmp_path / "a"), EpisodeDataset(tmp_path / "b")]
    windows = make_windows(data, obs_history=2, horizon=3)
    assert windows.episodes == 2 and windows.rows.shape == (10, 2, 3) and windows.actions.shape == (10, 3, 2)
    # The first window repeats the first row as its history; the last chunk repeats the last action.
    assert torch.equal(windows.rows[0, 0], windows.rows[0, 1]) and torch.equal(windows.rows[1, 0], windows.rows[0, 1])
    assert make_windows(data, 2, 3, success_only=False).episodes == 3
    EpisodeWriter(tmp_path / "c", fields).add({"policy": np.zeros((2, 3)), "action": np.zeros((2, 2))}, success=False)
    with pytest.raises(DatasetError, match="no successful episodes"):
        make_windows(EpisodeDataset(tmp_path / "c"), 2, 3)


def test_goal_conditioning_and_classifier_free_guidance(tmp_path: Path) -> None:
    """Goal +1 asks for the right mode, -1 for the left one; trained with goal dropout, the same model without its
    goal (guidance 0) still produces both modes."""
    torch.set_num_threads(1)
    n = 4096
    g = torch.Generator().manual_seed(3)
    goal = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, -1.0)
    actions = 0.6 * goal + 0.05 * torch.randn(n, generator=g)
    rows = torch.stack([torch.zeros(n), goal], dim=-1).reshape(n, 1, 2)
    cfg = PolicyConfig(
        kind="beso", goal_slice=[1, 2], obs_history=1, horizon=1, action_steps=1, hidden=64, blocks=2, goal_dropout=0.3
    )
    policy, _ = train_policy(cfg, Windows(rows, actions.reshape(n, 1, 1), 1), tmp_path, 1500, lr=2e-3, ema_decay=0.99)
    gen = torch.Generator().manual_seed(0)
    for sign in (1.0, -1.0):
        ask = torch.tensor([[[0.0, sign]]]).repeat(2000, 1, 1)
        a = policy.predict(ask, steps=10, generator=gen).flatten()
        assert ((a * sign) > 0).float().mean() > 0.95
        free = policy.predict(ask, steps=10, guidance=0.0, generator=gen).flatten()
        assert 0.2 < (free > 0).float().mean() < 0.8
        strong = policy.predict(ask, steps=10, guidance=2.0, generator=gen).flatten()
        assert ((strong * sign) > 0).float().mean() > 0.95


def test_a_diverged_checkpoint_is_refused_at_load(tmp_path: Path) -> None:
    """NaN weights (or a zero std) evaluated quietly to "0/2 successful"."""
    from ember.skills.diffusion.evaluate import load_policy

    shipped = Path(__file__).resolve().parents[2] / "skills" / "tabletop" / "checkpoints" / "push_obstacle_bc"
    data = torch.load(shipped / "policy.pt", map_location="cpu", weights_only=False)
    load_policy(str(shipped / "policy.pt"))
    weights = next(k for k, v in data["state"].items() if v.is_floating_point() and v.ndim == 2)
    data["state"][weights] = torch.full_like(data["state"][weights], float("nan"))
    torch.save(data, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match="hold NaN, inf or a std <= 0"):
        load_policy(str(tmp_path / "nan.pt"))

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from conftest import subprocess_env
from ietrainer.gp import aggregate, l2_normalise, run, solve_spd


def synthetic(v: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings on a low-dimensional manifold and a smooth reward over it."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((v, 4))
    emb = latent @ rng.standard_normal((4, d)) + 0.1 * rng.standard_normal((v, d))
    unit = l2_normalise(emb)
    truth = np.sin(2.0 * unit @ rng.standard_normal(d) / np.sqrt(d) * 3.0)
    return emb.astype(np.float32), truth


def run_cli(
    tmp: Path, emb: np.ndarray, ids: list[int], rewards: list[float]
) -> tuple[int, dict, np.ndarray | None, str]:
    emb_path, obs_path, out_path = tmp / "emb.f32", tmp / "obs.json", tmp / "mean.f32"
    emb.astype("<f4").tofile(emb_path)
    obs_path.write_text(json.dumps({"ids": ids, "rewards": rewards}))
    proc = subprocess.run(
        [sys.executable, "-m", "ietrainer.gp", "--embeddings", str(emb_path), "--dim",
         str(emb.shape[1]), "--observed", str(obs_path), "--out", str(out_path)],
        capture_output=True, text=True, timeout=120, env=subprocess_env(),
    )  # fmt: skip
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
    out = np.fromfile(out_path, dtype="<f4") if out_path.exists() else None
    return proc.returncode, (lines[-1] if lines else {}), out, proc.stderr


def test_posterior_mean_tracks_smooth_function() -> None:
    emb, truth = synthetic(3000, 32, seed=0)
    rng = np.random.default_rng(1)
    ids = rng.choice(len(emb), size=300, replace=False)
    rewards = truth[ids] + 0.1 * rng.standard_normal(len(ids))
    mean, params, n = run(emb, ids, rewards, max_fit_points=1000, seed=0)
    assert n == 300 and params is not None
    unseen = np.setdiff1d(np.arange(len(emb)), ids)
    assert np.corrcoef(mean[unseen], truth[unseen])[0, 1] > 0.8


def test_subset_fit_matches_full_fit_closely() -> None:
    emb, truth = synthetic(2000, 16, seed=2)
    ids = np.arange(0, 2000, 3)
    full, _, _ = run(emb, ids, truth[ids], max_fit_points=10_000, seed=0)
    sub, _, _ = run(emb, ids, truth[ids], max_fit_points=200, seed=0)
    assert np.corrcoef(full, sub)[0, 1] > 0.95


def test_cli_writes_one_float_per_concept(tmp_path: Path) -> None:
    emb, truth = synthetic(500, 10, seed=3)
    ids = list(range(0, 500, 5))
    rc, done, out, err = run_cli(tmp_path, emb, ids, [float(truth[i]) for i in ids])
    assert rc == 0, err
    assert out is not None and out.shape == (500,) and np.isfinite(out).all()
    assert done["event"] == "done" and done["observed"] == 100
    assert done["lengthScale"] > 0 and done["noise"] > 0 and done["seconds"] >= 0


def test_duplicates_are_averaged(tmp_path: Path) -> None:
    ids, means = aggregate(np.array([3, 1, 3, 3]), np.array([1.0, 5.0, 2.0, 6.0]))
    assert ids.tolist() == [1, 3] and means.tolist() == [5.0, 3.0]

    emb, _ = synthetic(300, 8, seed=4)
    dup_ids = [1, 2, 3, 2, 50, 50, 50]
    dup_rewards = [0.5, 1.0, -1.0, 0.0, 2.0, 1.0, 0.0]
    rc1, done1, with_dups, _ = run_cli(tmp_path, emb, dup_ids, dup_rewards)
    rc2, _, averaged, _ = run_cli(tmp_path, emb, [1, 2, 3, 50], [0.5, 0.5, -1.0, 1.0])
    assert rc1 == rc2 == 0 and done1["observed"] == 4
    assert with_dups is not None and averaged is not None
    np.testing.assert_allclose(with_dups, averaged, rtol=1e-5, atol=1e-6)


def test_no_observations_gives_prior_and_bad_ids_fail(tmp_path: Path) -> None:
    emb, _ = synthetic(50, 4, seed=5)
    rc, done, out, _ = run_cli(tmp_path, emb, [], [])
    assert rc == 0 and out is not None and np.all(out == 0) and done["observed"] == 0
    rc, _, _, err = run_cli(tmp_path, emb, [50], [1.0])
    assert rc == 2 and "concept ids" in err


def test_mixed_precision_solve_is_accurate() -> None:
    rng = np.random.default_rng(0)
    x = l2_normalise(rng.standard_normal((400, 6))).astype(np.float32)
    k = np.exp((x @ x.T - 1.0) / 0.3**2).astype(np.float32)
    k[np.diag_indices_from(k)] += 1e-4
    y = rng.standard_normal(400)
    exact = np.linalg.solve(k.astype(np.float64), y)
    np.testing.assert_allclose(solve_spd(k, y), exact, rtol=1e-6, atol=1e-6 * np.abs(exact).max())

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from conftest import subprocess_env
from ietrainer import handover
from ietrainer.gp import (
    DEFAULT_EXACT_LIMIT,
    Progress,
    aggregate,
    choose_inducing,
    fit_hyperparameters,
    l2_normalise,
    posterior_mean,
    run,
    run_gp,
    solve_spd,
    sparse_posterior_mean,
)


def synthetic(v: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings on a low-dimensional manifold and a smooth reward over it."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((v, 4))
    emb = latent @ rng.standard_normal((4, d)) + 0.1 * rng.standard_normal((v, d))
    unit = l2_normalise(emb)
    truth = np.sin(2.0 * unit @ rng.standard_normal(d) / np.sqrt(d) * 3.0)
    return emb.astype(np.float32), truth


def cli(
    tmp: Path, emb: np.ndarray, ids: list[int], rewards: list[float], flags: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    emb_path, obs_path, out_path = tmp / "emb.f32", tmp / "obs.json", tmp / "mean.f32"
    emb.astype("<f4").tofile(emb_path)
    obs_path.write_text(json.dumps({"ids": ids, "rewards": rewards}))
    out_path.unlink(missing_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "ietrainer.gp", "--embeddings", str(emb_path), "--dim",
         str(emb.shape[1]), "--observed", str(obs_path), "--out", str(out_path), *(flags or [])],
        capture_output=True, text=True, timeout=120, env=subprocess_env(),
    )  # fmt: skip


def run_cli(
    tmp: Path, emb: np.ndarray, ids: list[int], rewards: list[float], flags: list[str] | None = None
) -> tuple[int, dict, np.ndarray | None, str]:
    proc = cli(tmp, emb, ids, rewards, flags)
    out_path = tmp / "mean.f32"
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
    out = handover.read_f32(str(out_path))[:, 0] if out_path.exists() else None
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


# --- the cap: exact up to --exact-limit observations, DTC with inducing points above ----------


def noisy_observations(
    truth: np.ndarray, n: int, seed: int, noise: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.choice(len(truth), size=n, replace=False)
    y = truth[ids] + noise * rng.standard_normal(n)
    return ids, (y - y.mean()) / y.std()


def test_sparse_with_every_observation_as_inducing_point_is_the_exact_gp() -> None:
    emb, truth = synthetic(2000, 16, seed=6)
    ids, y = noisy_observations(truth, 300, seed=7)
    x = l2_normalise(emb)
    uid, yy = aggregate(ids, y)
    params = fit_hyperparameters(x[uid], yy, 1000, 0)
    exact = posterior_mean(x, x[uid], yy, params)
    sparse = sparse_posterior_mean(x, x[uid], yy, params, np.arange(len(uid)))
    np.testing.assert_allclose(sparse, exact, atol=2e-3 * float(np.abs(exact).max()))


def test_cap_switches_to_a_close_sparse_approximation() -> None:
    emb, truth = synthetic(6000, 16, seed=8)
    ids, y = noisy_observations(truth, 3000, seed=9)
    exact = run_gp(emb, ids, y, max_fit_points=400, exact_limit=3000, inducing_points=300)
    sparse = run_gp(emb, ids, y, max_fit_points=400, exact_limit=2999, inducing_points=300)
    assert (exact.method, exact.inducing) == ("exact", None)
    assert (sparse.method, sparse.inducing) == ("sparse", 300)
    assert sparse.params == exact.params  # the same seeded hyperparameter fit
    assert np.corrcoef(sparse.mean, exact.mean)[0, 1] > 0.99
    unseen = np.setdiff1d(np.arange(len(emb)), ids)
    assert np.corrcoef(sparse.mean[unseen], truth[unseen])[0, 1] > 0.9
    # No more observations than inducing points: the exact GP, which is then the cheaper one.
    assert run_gp(emb, ids[:400], y[:400], exact_limit=10, inducing_points=400).method == "exact"


def test_defaults_keep_the_demo_scale_exact() -> None:
    emb, truth = synthetic(3000, 8, seed=10)
    ids, y = noisy_observations(truth, 1300, seed=11)
    result = run_gp(emb, ids, y)
    assert result.method == "exact" and DEFAULT_EXACT_LIMIT >= 4000
    x = l2_normalise(emb)
    uid, yy = aggregate(ids, y)
    np.testing.assert_array_equal(result.mean, posterior_mean(x, x[uid], yy, result.params))


def test_inducing_points_are_distinct_spread_and_seeded() -> None:
    rng = np.random.default_rng(12)
    base = l2_normalise(rng.standard_normal((500, 6))).astype(np.float32)
    x = np.concatenate([base, base[:200], base[:100]])  # 300 duplicate rows
    chosen = choose_inducing(x, 120, seed=3)
    assert len(chosen) == 120 and len(np.unique(x[chosen], axis=0)) == 120
    assert np.array_equal(chosen, choose_inducing(x, 120, seed=3))
    assert not np.array_equal(chosen, choose_inducing(x, 120, seed=4))
    assert len(choose_inducing(x, 800, seed=3)) == 500  # all distinct rows, no repeats

    # Spread: the chosen points lie farther apart than a random pick of distinct rows does.
    def nearest(rows: np.ndarray) -> float:
        sim = rows @ rows.T
        np.fill_diagonal(sim, -np.inf)
        return float(np.median(2.0 - 2.0 * sim.max(axis=1)))

    random_pick = rng.choice(500, size=120, replace=False)
    assert nearest(x[chosen]) > nearest(base[random_pick])


def test_sparse_cli_is_deterministic_and_reports_progress(tmp_path: Path) -> None:
    emb, truth = synthetic(4000, 12, seed=13)
    ids, y = noisy_observations(truth, 1500, seed=14)
    flags = ["--exact-limit", "500", "--inducing-points", "200", "--max-fit-points", "300"]
    first = cli(tmp_path, emb, ids.tolist(), y.tolist(), flags)
    out1 = handover.read_f32(str(tmp_path / "mean.f32"), rows=4000, dim=1)[:, 0]
    second = cli(tmp_path, emb, ids.tolist(), y.tolist(), flags)
    out2 = handover.read_f32(str(tmp_path / "mean.f32"), rows=4000, dim=1)[:, 0]
    assert first.returncode == second.returncode == 0, first.stderr
    assert out1.shape == (4000,) and out1.tobytes() == out2.tobytes()

    events = [json.loads(line) for line in first.stdout.splitlines()]
    done = events[-1]
    assert done["event"] == "done" and done["method"] == "sparse"
    assert done["inducing"] == 200 and done["observed"] == 1500
    progress = [e for e in events if e["event"] == "progress"]
    assert len(progress) == len(events) - 1
    phases = list(dict.fromkeys(e["phase"] for e in progress))
    assert phases == ["fit", "inducing", "solve", "predict"]
    last = {e["phase"]: e for e in progress}
    assert last["fit"]["total"] is None and last["fit"]["done"] > 0
    assert (last["inducing"]["done"], last["inducing"]["total"]) == (200, 200)
    assert (last["solve"]["done"], last["solve"]["total"]) == (1500, 1500)
    assert (last["predict"]["done"], last["predict"]["total"]) == (4000, 4000)


def test_progress_is_throttled_but_always_reports_the_end() -> None:
    now = [0.0]
    seen: list[tuple[int, int | None]] = []
    sink = lambda _event, **f: seen.append((f["done"], f["total"]))  # noqa: E731
    report = Progress("predict", 100, every=1.0, clock=lambda: now[0], sink=sink)
    for done in range(1, 101):
        now[0] += 0.3
        report.update(done)
    report.finish()
    assert seen[0] == (0, 100) and seen[-1] == (100, 100)
    assert 25 <= len(seen) <= 35  # one per simulated second, plus the first and the last


def test_bad_cap_flags_are_usage_errors(tmp_path: Path) -> None:
    emb, _ = synthetic(50, 4, seed=15)
    for flags in (["--inducing-points", "0"], ["--exact-limit", "-1"], ["--max-fit-points", "x"]):
        rc, _, _, err = run_cli(tmp_path, emb, [1, 2], [0.5, -0.5], flags)
        assert rc == 2 and flags[0] in err


def test_sigterm_stops_the_gp_at_once_and_leaves_no_output(tmp_path: Path) -> None:
    emb, truth = synthetic(20_000, 32, seed=16)
    ids, y = noisy_observations(truth, 8000, seed=17)
    emb_path, obs_path, out_path = tmp_path / "e.f32", tmp_path / "o.json", tmp_path / "m.f32"
    emb.astype("<f4").tofile(emb_path)
    obs_path.write_text(json.dumps({"ids": ids.tolist(), "rewards": y.tolist()}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ietrainer.gp", "--embeddings", str(emb_path), "--dim", "32",
         "--observed", str(obs_path), "--out", str(out_path)],
        stdout=subprocess.PIPE, text=True, env=subprocess_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    # The first progress event: the hyperparameter fit, the sparse solve and the prediction
    # (several seconds of work) are still ahead.
    assert json.loads(proc.stdout.readline())["event"] == "progress"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == -signal.SIGTERM
    assert time.monotonic() - t0 < 2.0
    proc.stdout.close()
    assert not out_path.exists() and not list(tmp_path.glob("m.f32*tmp*"))

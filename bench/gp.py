"""The GP update at paper scale: wall time and peak memory of `python -m ietrainer.gp`.

Run from the repository root: /usr/bin/python3 bench/gp.py [--sizes 1000,10000,75000]
    [--compare 10000] [--threads 2] [--dim 100] [--json FILE]

A synthetic WordNet-sized vocabulary (117,798 concepts, --dim-d embeddings near an 8-d manifold;
100 is GloVe's width, 356 that of GloVe with the taxonomy features, the default concept features,
a smooth "true" reward over the manifold) is written to a file; for each size, that many
concepts get noisy standardised rewards and the GP runs as the update stage runs it: its own
process, BLAS limited to --threads threads. Each line gives the process's wall time (start-up,
reading, hyperparameter fit and the prediction for all 117,798 concepts), its peak RSS (from
os.wait4's rusage of that child alone), the correlation of the predicted mean with the truth,
the mean true reward of the next draw under p(c) ∝ exp(mean/τ) with τ set so that the top 250
concepts hold half the mass (what exploration gets out of the fit), and the longest silence
between two of its stdout events (what the activity's heartbeat relies on).

At --compare N the GP runs twice, sparse and forced exact, and the line after them says how far
apart they are: correlation, largest difference, overlap of the 256 most probable concepts and
the total-variation distance between the two sampling distributions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "trainer"))
from ietrainer.handover import read_f32  # noqa: E402  (the trainer package is not installed)

V = 117_798
TOP_K, TOP_MASS, QUERIES = 250, 0.5, 256


@dataclass
class Measure:
    observed: int
    dim: int
    method: str
    inducing: int | None
    seconds: float
    peak_rss_mb: float
    corr_truth: float
    next_draw_truth: float
    longest_silence_s: float


def synthetic(dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    # Text embeddings live near a low-dimensional manifold; mimic that so the fit has
    # structure to find, and make the reward a smooth function of the latent position.
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((V, 8)).astype(np.float32)
    mix = rng.standard_normal((8, dim)).astype(np.float32)
    emb = latent @ mix + 0.5 * rng.standard_normal((V, dim)).astype(np.float32)
    truth = np.sin(latent[:, 0]) + 0.5 * np.cos(latent[:, 1])
    return emb, truth.astype(np.float64)


def sampling_distribution(scores: np.ndarray) -> np.ndarray:
    """p ∝ exp(score/τ), τ by bisection so the TOP_K best hold TOP_MASS (update stage's rule)."""
    s = np.sort(scores)[::-1] - scores.max()

    def top_mass(tau: float) -> float:
        w = np.exp(s / tau)
        return float(w[:TOP_K].sum() / w.sum())

    spread = float(s[0] - s[-1])
    lo, hi = np.log(spread * 1e-6), np.log(spread * 1e6)
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if top_mass(float(np.exp(mid))) > TOP_MASS else (lo, mid)
    p = np.exp((scores - scores.max()) / float(np.exp((lo + hi) / 2)))
    return p / p.sum()


def run_gp(
    work: Path,
    emb_path: Path,
    dim: int,
    ids: np.ndarray,
    rewards: np.ndarray,
    extra: list[str],
    threads: int,
) -> tuple[np.ndarray, dict, float, float, float]:
    """One `python -m ietrainer.gp` process: (mean, done event, wall s, peak RSS MB, silence s)."""
    obs, out = work / "observed.json", work / "mean.f32"
    obs.write_text(json.dumps({"ids": ids.tolist(), "rewards": rewards.tolist()}))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "trainer")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [sys.executable, "-m", "ietrainer.gp", "--embeddings", str(emb_path), "--dim", str(dim),
           "--observed", str(obs), "--out", str(out), *extra]  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    last, silence, done = t0, 0.0, {}
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.monotonic()
        silence, last = max(silence, now - last), now
        event = json.loads(line)
        if event.get("event") == "done":
            done = event
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"ietrainer.gp exited with {proc.returncode}")
    # The GP writes a checked file (a header, then the floats): read it as the update stage does.
    mean = read_f32(str(out)).reshape(-1).astype(np.float64)
    return mean, done, seconds, usage.ru_maxrss / 1024, silence  # ru_maxrss is in KiB on Linux


def measure(
    n: int,
    dim: int,
    done: dict,
    mean: np.ndarray,
    truth: np.ndarray,
    run: tuple[float, float, float],
) -> Measure:
    seconds, rss, silence = run
    m = Measure(
        observed=n,
        dim=dim,
        method=done["method"],
        inducing=done.get("inducing"),
        seconds=round(seconds, 2),
        peak_rss_mb=round(rss, 1),
        corr_truth=round(float(np.corrcoef(mean, truth)[0, 1]), 4),
        next_draw_truth=round(float(sampling_distribution(mean) @ truth), 4),
        longest_silence_s=round(silence, 2),
    )
    label = m.method + (f" M={m.inducing}" if m.inducing else "")
    print(
        f"n={n:>6} V={V} D={dim} {label:<13} {m.seconds:6.2f} s  "
        f"peak RSS {m.peak_rss_mb / 1024:5.2f} GB  corr(mean, truth)={m.corr_truth:.4f}  "
        f"E_p[truth]={m.next_draw_truth:+.4f}  "
        f"longest silence {m.longest_silence_s:.2f} s",
        flush=True,
    )
    return m


def agreement(n: int, a: np.ndarray, b: np.ndarray) -> dict:
    """How far the default run's mean `a` lies from the exact GP's `b`."""
    pa, pb = sampling_distribution(a), sampling_distribution(b)
    top_a = set(np.argsort(-pa)[:QUERIES].tolist())
    top_b = set(np.argsort(-pb)[:QUERIES].tolist())
    out = {
        "observed": n,
        "corr": round(float(np.corrcoef(a, b)[0, 1]), 5),
        "max_abs_diff": round(float(np.abs(a - b).max()), 4),
        "exact_std": round(float(b.std()), 4),
        "top256_overlap": len(top_a & top_b) / QUERIES,
        "total_variation": round(float(0.5 * np.abs(pa - pb).sum()), 4),
    }
    print(
        f"n={n:>6} default vs exact: corr {out['corr']:.5f}, "
        f"max |diff| {out['max_abs_diff']:.3f} (exact mean's std {out['exact_std']:.3f}), "
        f"top-{QUERIES} overlap {out['top256_overlap']:.2f}, "
        f"total variation {out['total_variation']:.3f}",
        flush=True,
    )
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="1000,10000,75000", help="observed concepts, comma-separated")
    p.add_argument("--compare", type=int, default=10_000, help="also run exactly at this size")
    p.add_argument("--threads", type=int, default=2, help="BLAS threads of the GP process")
    p.add_argument("--dim", type=int, default=100, help="width of the synthetic concept embeddings")
    p.add_argument("--json", help="write every measure to this file")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    emb, truth = synthetic(args.dim)
    rng = np.random.default_rng(1)
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ie-gp-bench-") as tmp:
        work = Path(tmp)
        emb_path = work / "emb.f32"
        emb.astype("<f4").tofile(emb_path)
        for n in sizes:
            ids = rng.choice(V, size=n, replace=False)
            y = truth[ids] + 0.3 * rng.standard_normal(n)
            y = (y - y.mean()) / y.std()
            variants: dict[str, list[str]] = {"default": []}
            if n == args.compare:
                variants["exact"] = ["--exact-limit", str(n)]
            means = {}
            for name, extra in variants.items():
                mean, done, *run = run_gp(work, emb_path, args.dim, ids, y, extra, args.threads)
                means[name] = mean
                results.append(
                    asdict(measure(n, args.dim, done, mean, truth, (run[0], run[1], run[2])))
                )
            if "exact" in means:
                results.append({"agreement": agreement(n, means["default"], means["exact"])})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

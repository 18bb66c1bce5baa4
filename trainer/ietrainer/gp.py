"""Gaussian-process regression of concept rewards over text embeddings (the "update" step).

Usage: python -m ietrainer.gp --embeddings E.f32 --dim 100 --observed obs.json --out mean.f32

Hyperparameters (amplitude, RBF length scale, white noise) are fitted by marginal likelihood
with scikit-learn on at most --max-fit-points observations; the posterior mean for every
concept then uses all observations through one Cholesky solve, which stays fast for n = 10k
where sklearn's repeated O(n^3) likelihood gradients would not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from .errors import EXIT_USAGE, UsageError
from .events import emit, log

CHUNK_ROWS = 4096


@dataclass
class GPParams:
    amplitude: float
    length_scale: float
    noise: float


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    # Concepts without a vector (all zeros) stay at the origin instead of becoming NaN.
    return x / np.maximum(norms, 1e-12)


def aggregate(ids: np.ndarray, rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average rewards of repeated concept ids (a concept sampled in several iterations)."""
    unique, inverse = np.unique(ids, return_inverse=True)
    sums = np.zeros(len(unique), dtype=np.float64)
    np.add.at(sums, inverse, rewards)
    counts = np.bincount(inverse, minlength=len(unique))
    return unique, sums / counts


def fit_hyperparameters(x: np.ndarray, y: np.ndarray, max_points: int, seed: int) -> GPParams:
    """Marginal-likelihood fit on a seeded random subset (y already standardised)."""
    rng = np.random.default_rng(seed)
    if len(x) > max_points:
        pick = rng.choice(len(x), size=max_points, replace=False)
        x, y = x[pick], y[pick]
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(1.0, (1e-2, 1e2)) + WhiteKernel(
        0.5, (1e-4, 1e1)
    )
    gpr = GaussianProcessRegressor(
        kernel=kernel, normalize_y=True, random_state=int(rng.integers(2**31 - 1))
    )
    with warnings.catch_warnings():
        # Hitting a bound (e.g. almost no noise) is a legitimate outcome, not an error.
        warnings.simplefilter("ignore", ConvergenceWarning)
        gpr.fit(x.astype(np.float64), y)
    k = gpr.kernel_
    return GPParams(
        amplitude=float(k.k1.k1.constant_value),
        length_scale=float(k.k1.k2.length_scale),
        noise=float(k.k2.noise_level),
    )


def _unit_rbf(a: np.ndarray, b: np.ndarray, length_scale: float) -> np.ndarray:
    """exp(-|a-b|^2 / (2 l^2)) for unit vectors, where |a-b|^2 = 2 - 2 a.b (one matmul).

    Computed in place on the matmul result: the 118k x 10k cross-covariance dominates the
    run time, so every extra pass over it counts.
    """
    k = a @ b.T
    k -= 1.0
    k *= 1.0 / length_scale**2
    np.minimum(k, 0.0, out=k)  # rounding can push a.b slightly above 1
    np.exp(k, out=k)
    return k


def solve_spd(matrix: np.ndarray, rhs: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """Solve matrix @ x = rhs for a symmetric positive-definite float32 matrix.

    A float32 Cholesky is ~3x faster than float64 at n = 10k; iterative refinement with
    float64 residuals recovers float64 accuracy when the system is reasonably conditioned
    (a fitted noise level keeps it so). Otherwise fall back to a float64 Cholesky.
    """
    rhs = rhs.astype(np.float64)
    target = tol * float(np.linalg.norm(rhs)) + 1e-30
    try:
        factor = cho_factor(matrix.copy(), lower=True, check_finite=False, overwrite_a=True)
        x = cho_solve(factor, rhs.astype(np.float32), check_finite=False).astype(np.float64)
        exact = matrix.astype(np.float64)
        for _ in range(20):
            residual = rhs - exact @ x
            if float(np.linalg.norm(residual)) <= target:
                return x
            x += cho_solve(factor, residual.astype(np.float32), check_finite=False)
    except np.linalg.LinAlgError:
        pass
    exact = matrix.astype(np.float64)
    diag = np.diag_indices_from(exact)
    jitter = 0.0
    scale = float(np.mean(exact[diag]))
    for _ in range(8):
        try:
            factor64 = cho_factor(exact, lower=True, check_finite=False)
            return cho_solve(factor64, rhs, check_finite=False)
        except np.linalg.LinAlgError:
            # Near-duplicate concepts with almost no fitted noise: add a little more jitter.
            step = scale * 1e-8 if jitter == 0.0 else jitter * 9.0
            exact[diag] += step
            jitter += step
    raise np.linalg.LinAlgError("covariance matrix is not positive definite even with jitter")


def posterior_mean(
    all_x: np.ndarray, obs_x: np.ndarray, obs_y: np.ndarray, params: GPParams
) -> np.ndarray:
    """Exact GP posterior mean for every row of all_x, with sklearn's normalize_y semantics."""
    y_mean = float(obs_y.mean())
    y_std = float(obs_y.std())
    if not np.isfinite(y_std) or y_std == 0.0:
        y_std = 1.0
    yn = (obs_y - y_mean) / y_std
    xo = np.ascontiguousarray(obs_x, dtype=np.float32)
    gram = _unit_rbf(xo, xo, params.length_scale)
    gram *= params.amplitude
    gram[np.diag_indices_from(gram)] += params.noise + 1e-6
    alpha = solve_spd(gram, yn)
    del gram
    weights = (alpha * params.amplitude).astype(np.float32)
    out = np.empty(len(all_x), dtype=np.float64)
    for start in range(0, len(all_x), CHUNK_ROWS):
        block = np.ascontiguousarray(all_x[start : start + CHUNK_ROWS], dtype=np.float32)
        out[start : start + len(block)] = _unit_rbf(block, xo, params.length_scale) @ weights
    return out * y_std + y_mean


def read_embeddings(path: str, dim: int) -> np.ndarray:
    if dim <= 0:
        raise UsageError("--dim must be positive")
    try:
        raw = np.fromfile(path, dtype="<f4")
    except OSError as exc:
        raise UsageError(f"cannot read embeddings {path}: {exc}") from None
    if raw.size == 0 or raw.size % dim != 0:
        raise UsageError(
            f"embeddings {path} hold {raw.size} float32 values, not a multiple of --dim {dim}"
        )
    emb = raw.reshape(-1, dim).astype(np.float32)
    if not np.isfinite(emb).all():
        raise UsageError(f"embeddings {path} contain NaN or infinite values")
    return emb


def read_observed(path: str, n_concepts: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read observed rewards {path}: {exc}") from None
    if not isinstance(raw, dict) or "ids" not in raw or "rewards" not in raw:
        raise UsageError(f"{path} must be a JSON object with 'ids' and 'rewards' arrays")
    try:
        ids = np.asarray(raw["ids"], dtype=np.int64).reshape(-1)
        rewards = np.asarray(raw["rewards"], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{path}: ids must be integers and rewards numbers ({exc})") from None
    if len(ids) != len(rewards):
        raise UsageError(f"{path}: {len(ids)} ids but {len(rewards)} rewards")
    if len(ids) and (ids.min() < 0 or ids.max() >= n_concepts):
        raise UsageError(f"{path}: concept ids must lie in [0, {n_concepts})")
    if not np.isfinite(rewards).all():
        raise UsageError(f"{path}: rewards contain NaN or infinite values")
    return ids, rewards


def write_f32_atomic(values: np.ndarray, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        values.astype("<f4").tofile(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def run(
    embeddings: np.ndarray,
    ids: np.ndarray,
    rewards: np.ndarray,
    max_fit_points: int,
    seed: int,
) -> tuple[np.ndarray, GPParams | None, int]:
    """Posterior mean for all concepts; with no observations the prior mean (0) is returned."""
    x = l2_normalise(embeddings)
    uid, y = aggregate(ids, rewards)
    if len(uid) == 0:
        return np.zeros(len(x), dtype=np.float64), None, 0
    params = fit_hyperparameters(x[uid], y, max_fit_points, seed)
    return posterior_mean(x, x[uid], y, params), params, len(uid)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ietrainer.gp", description=__doc__)
    p.add_argument("--embeddings", required=True, help="raw little-endian float32 [V, D]")
    p.add_argument("--dim", type=int, required=True, help="D, the embedding width")
    p.add_argument("--observed", required=True, help='JSON {"ids": [...], "rewards": [...]}')
    p.add_argument("--out", required=True, help="raw float32 [V] posterior mean")
    p.add_argument("--max-fit-points", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    try:
        emb = read_embeddings(args.embeddings, args.dim)
        ids, rewards = read_observed(args.observed, len(emb))
        mean, params, n = run(emb, ids, rewards, args.max_fit_points, args.seed)
        write_f32_atomic(mean, args.out)
    except UsageError as exc:
        log(f"error: {exc}")
        emit("error", message=str(exc))
        return EXIT_USAGE
    emit(
        "done",
        lengthScale=params.length_scale if params else None,
        noise=params.noise if params else None,
        amplitude=params.amplitude if params else None,
        observed=n,
        concepts=len(emb),
        seconds=round(time.time() - t0, 3),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Gaussian-process regression of concept rewards over text embeddings (the "update" step).

Usage: python -m ietrainer.gp --embeddings E.f32 --dim 100 --observed obs.json --out mean.f32
       [--exact-limit 4000] [--inducing-points 2000] [--max-fit-points 1000] [--seed 0]
       [--blocks 100,256]

Model: RBF kernel on L2-normalised concept-name embeddings plus white noise (with --blocks,
one length scale per block of features: block_kernel.py); rewards arrive
standardised per iteration and repeated concept ids are averaged. Hyperparameters (amplitude,
length scale, noise) are fitted by marginal likelihood with scikit-learn on a seeded subset of
at most --max-fit-points observations. The posterior mean is then written for every concept:

- Exact, up to --exact-limit distinct observed concepts (and whenever there are no more of them
  than inducing points): one Cholesky solve over all observations. Every run of the demo scale
  (about 1,300 observed concepts) takes this path, so its predictions are those of the exact GP.
- Above that, a sparse approximation: the DTC / projected-process predictive mean
  (Seeger et al. 2003; Quinonero-Candela & Rasmussen 2005) with M = --inducing-points inducing
  inputs chosen among the distinct observed embeddings by seeded k-means++ seeding on a seeded
  pool of 4 M candidates. It is the exact posterior mean of a GP whose prior is restricted to
  the span of k(., z_1..z_M), i.e. Bayesian regression on M basis functions fitted to all n
  observations; with M >= n and Z = X it is the exact GP. It uses the hyperparameters fitted
  as above. On the synthetic bench (bench/gp.py) at 10,000 observations with M = 2,000 its mean
  correlates 0.9986 with the exact GP's, follows the synthetic truth as closely (0.9700 vs
  0.9702), and the next draw's mean true reward is no lower (1.384 vs 1.362). The two sampling
  distributions still differ (total variation 0.32): the 250 concepts that hold half the mass
  are a thin tail whose order small differences change.

How its cost grows (n distinct observed concepts, V vocabulary concepts, D embedding width,
f = --max-fit-points, M = --inducing-points):

- Hyperparameters: O(f^3) per likelihood evaluation (tens of evaluations), independent of n.
- Exact (n <= --exact-limit): O(n^3) time; an n x n float32 gram, its float32 factor and a
  float64 copy (16 bytes per entry: 256 MB at n = 4,000); predicting O(V n D).
- Sparse: O(n M^2) for the M x M float64 sum K_mn K_nm (the dominant term), O(M^3) to
  condition it, O(V M D) to predict, and O(M * 4M * D) for the k-means++ seeding. Memory is the
  vocabulary's float32 embeddings (twice: as read and L2-normalised), a few M x M float64
  matrices (32 MB each at M = 2,000) and one chunk of CHUNK_ROWS x M cross-covariances at a
  time, in float32 and float64 (100 MB); beyond the observations' own rows it does not grow
  with n.

Measured with bench/gp.py on 2 shared cores (V = 117,798, D = 100; the whole process: start-up,
reading, hyperparameter fit, prediction for every concept), wall time / peak RSS:
1,000 observations 3.2 s / 0.26 GB (exact); 4,000 8.6 s / 0.46 GB (exact); 10,000 4.6 s /
0.38 GB (sparse; the exact GP took 14.3 s / 1.72 GB); 75,000 13.3 s / 0.41 GB (sparse).

Progress: JSON lines on stdout (ietrainer.events): one when a phase starts, then at most one per
PROGRESS_EVERY_S as its steps end, and one when it ends, each
{"event":"progress","phase":P,"done":d,"total":t} with P "fit"
(likelihood evaluations; total null, the optimiser decides), "inducing" (points chosen),
"solve" (observations conditioned on) and "predict" (concepts); then one "done" event.
The longest silence measured was 1.4 s (start-up and reading, before the first event); the
exact solve is a single step, about a second at 4,000 observations but 7 s at 10,000: keep that
in mind before raising --exact-limit.

Cancellation: SIGTERM keeps its default action, so the process ends at once even inside a
BLAS call, and it asks Linux for SIGTERM when its parent dies (a killed worker leaves no GP
computing). The output is written to a temporary file and renamed, so a cancelled run never
leaves a partial result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize
from scipy.linalg import cho_factor, cho_solve, cholesky, solve_triangular
from scipy.linalg.blas import dsyrk
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Kernel, WhiteKernel

from . import handover
from .block_kernel import BlockRBF, normalise_blocks, scale_blocks
from .errors import EXIT_USAGE, UsageError
from .events import emit, log
from .lifetime import die_with_parent

CHUNK_ROWS = 4096
DEFAULT_EXACT_LIMIT = 4000
DEFAULT_INDUCING_POINTS = 2000
DEFAULT_MAX_FIT_POINTS = 1000
# k-means++ seeding looks at this many candidates per inducing point (a seeded subset of the
# distinct observed embeddings): enough to spread the points over the observed region, while
# the M sequential passes stay cheap (about 1 s at M = 2,000).
INDUCING_POOL_FACTOR = 4
PROGRESS_EVERY_S = 1.0


@dataclass
class GPParams:
    amplitude: float
    length_scale: float
    noise: float
    # With --blocks: each block's share of the squared distance, fitted (block_kernel.py).
    block_weights: tuple[float, ...] | None = None


class Progress:
    """Progress events for one phase: at most one per `every` seconds, plus the last one."""

    def __init__(
        self,
        phase: str,
        total: int | None,
        every: float = PROGRESS_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        sink: Callable[..., None] = emit,
    ) -> None:
        self.phase = phase
        self.total = total
        self.every = every
        self.clock = clock
        self.sink = sink
        self.done = 0
        self._last = clock()
        self._emit()

    def _emit(self) -> None:
        self.sink("progress", phase=self.phase, done=self.done, total=self.total)

    def update(self, done: int) -> None:
        self.done = done
        now = self.clock()
        if now - self._last >= self.every:
            self._last = now
            self._emit()

    def finish(self) -> None:
        if self.total is not None:
            self.done = self.total
        self._emit()


def _silent(_event: str, **_fields: Any) -> None:
    pass


def quiet_progress(phase: str, total: int | None) -> Progress:
    """A Progress that reports nothing (library use, tests)."""
    return Progress(phase, total, sink=_silent)


ProgressFactory = Callable[[str, "int | None"], Progress]


def l2_normalise(x: np.ndarray) -> np.ndarray:
    # Concepts without a vector (all zeros) stay at the origin instead of becoming NaN.
    return normalise_blocks(x, (x.shape[1],))


def aggregate(ids: np.ndarray, rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average rewards of repeated concept ids (a concept sampled in several iterations)."""
    unique, inverse = np.unique(ids, return_inverse=True)
    sums = np.zeros(len(unique), dtype=np.float64)
    np.add.at(sums, inverse, rewards)
    counts = np.bincount(inverse, minlength=len(unique))
    return unique, sums / counts


def fit_hyperparameters(
    x: np.ndarray,
    y: np.ndarray,
    max_points: int,
    seed: int,
    progress: ProgressFactory = quiet_progress,
    blocks: tuple[int, ...] | None = None,
) -> GPParams:
    """Marginal-likelihood fit on a seeded random subset (y already standardised).

    With `blocks` (x's rows unit-normalised per block) the RBF has one length scale per
    block, and the result gives their shares as `block_weights` with the one length scale
    that the rows scaled by them take (block_kernel.py).

    The optimiser is scikit-learn's default (L-BFGS-B from the initial kernel, no restarts),
    called here only so that each likelihood evaluation can report progress.
    """
    rng = np.random.default_rng(seed)
    if len(x) > max_points:
        pick = rng.choice(len(x), size=max_points, replace=False)
        x, y = x[pick], y[pick]
    rbf: Kernel = RBF(1.0, (1e-2, 1e2)) if blocks is None else BlockRBF(blocks, [1.0] * len(blocks))
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * rbf + WhiteKernel(0.5, (1e-4, 1e1))
    report = progress("fit", None)

    def optimizer(
        obj_func: Callable[..., Any], initial_theta: np.ndarray, bounds: np.ndarray
    ) -> tuple[np.ndarray, float]:
        evaluations = 0

        def counted(theta: np.ndarray) -> Any:
            nonlocal evaluations
            value = obj_func(theta)
            evaluations += 1
            report.update(evaluations)
            return value

        res = scipy.optimize.minimize(
            counted, initial_theta, method="L-BFGS-B", jac=True, bounds=bounds
        )
        return res.x, float(res.fun)

    gpr = GaussianProcessRegressor(
        kernel=kernel,
        normalize_y=True,
        optimizer=optimizer,
        random_state=int(rng.integers(2**31 - 1)),
    )
    with warnings.catch_warnings():
        # Hitting a bound (e.g. almost no noise) is a legitimate outcome, not an error.
        warnings.simplefilter("ignore", ConvergenceWarning)
        gpr.fit(x.astype(np.float64), y)
    report.finish()
    k = gpr.kernel_
    amplitude, noise = float(k.k1.k1.constant_value), float(k.k2.noise_level)
    fitted = k.k1.k2
    if isinstance(fitted, BlockRBF):
        weights, length_scale = fitted.as_weights()
        return GPParams(amplitude, length_scale, noise, weights)
    return GPParams(amplitude, float(fitted.length_scale), noise)


def _unit_rbf(a: np.ndarray, b: np.ndarray, length_scale: float) -> np.ndarray:
    """exp(-|a-b|^2 / (2 l^2)) for unit vectors, where |a-b|^2 = 2 - 2 a.b (one matmul).

    Computed in place on the matmul result: the 118k x n cross-covariance dominates the
    exact GP's run time, so every extra pass over it counts.
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
    return cholesky_with_jitter(exact, rhs)


def cholesky_with_jitter(matrix: np.ndarray, rhs: np.ndarray | None = None) -> np.ndarray:
    """Lower Cholesky factor of a float64 SPD matrix (in place), or the solve with `rhs`.

    Near-duplicate rows with almost no fitted noise make the matrix numerically singular: add
    a little jitter to the diagonal, growing ninefold per failure.
    """
    diag = np.diag_indices_from(matrix)
    jitter = 0.0
    scale = float(np.mean(matrix[diag]))
    for _ in range(8):
        try:
            if rhs is None:
                return cholesky(matrix, lower=True, check_finite=False)
            factor = cho_factor(matrix, lower=True, check_finite=False)
            return cho_solve(factor, rhs, check_finite=False)
        except np.linalg.LinAlgError:
            step = scale * 1e-8 if jitter == 0.0 else jitter * 9.0
            matrix[diag] += step
            jitter += step
    raise np.linalg.LinAlgError("covariance matrix is not positive definite even with jitter")


def _standardise(obs_y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """scikit-learn's normalize_y: the fit and the prediction use the observations' mean and std."""
    y_mean = float(obs_y.mean())
    y_std = float(obs_y.std())
    if not np.isfinite(y_std) or y_std == 0.0:
        y_std = 1.0
    return (obs_y - y_mean) / y_std, y_mean, y_std


def _predict(
    all_x: np.ndarray,
    basis: np.ndarray,
    weights: np.ndarray,
    length_scale: float,
    progress: ProgressFactory,
) -> np.ndarray:
    """k(all_x, basis) @ weights, in row chunks of the vocabulary."""
    out = np.empty(len(all_x), dtype=np.float64)
    report = progress("predict", len(all_x))
    for start in range(0, len(all_x), CHUNK_ROWS):
        block = np.ascontiguousarray(all_x[start : start + CHUNK_ROWS], dtype=np.float32)
        out[start : start + len(block)] = _unit_rbf(block, basis, length_scale) @ weights
        report.update(start + len(block))
    report.finish()
    return out


def posterior_mean(
    all_x: np.ndarray,
    obs_x: np.ndarray,
    obs_y: np.ndarray,
    params: GPParams,
    progress: ProgressFactory = quiet_progress,
) -> np.ndarray:
    """Exact GP posterior mean for every row of all_x, with sklearn's normalize_y semantics."""
    yn, y_mean, y_std = _standardise(obs_y)
    report = progress("solve", len(obs_y))
    xo = np.ascontiguousarray(obs_x, dtype=np.float32)
    gram = _unit_rbf(xo, xo, params.length_scale)
    gram *= params.amplitude
    gram[np.diag_indices_from(gram)] += params.noise + 1e-6
    alpha = solve_spd(gram, yn)
    del gram
    report.finish()
    weights = (alpha * params.amplitude).astype(np.float32)
    return _predict(all_x, xo, weights, params.length_scale, progress) * y_std + y_mean


def choose_inducing(
    x: np.ndarray, m: int, seed: int, progress: ProgressFactory = quiet_progress
) -> np.ndarray:
    """Indices of at most m distinct rows of x, spread out by k-means++ seeding.

    Duplicate embeddings (word-averaged vectors put many names on one point) would waste
    inducing points and make K_mm singular, so only the first row of each distinct vector is
    a candidate. k-means++ (D^2 sampling, Arthur & Vassilvitskii 2007) runs on a seeded pool of
    INDUCING_POOL_FACTOR * m candidates, which keeps its m sequential passes cheap. The result
    depends only on x, m and the seed.
    """
    _, first = np.unique(x, axis=0, return_index=True)
    distinct = np.sort(first)
    if len(distinct) <= m:
        return distinct
    rng = np.random.default_rng(seed)
    pool_size = INDUCING_POOL_FACTOR * m
    pool = (
        distinct
        if len(distinct) <= pool_size
        else np.sort(rng.choice(distinct, size=pool_size, replace=False))
    )
    xp = np.ascontiguousarray(x[pool], dtype=np.float64)
    sq = np.einsum("ij,ij->i", xp, xp)
    report = progress("inducing", m)
    chosen = [int(rng.integers(len(pool)))]
    d2 = np.maximum(sq + sq[chosen[0]] - 2.0 * (xp @ xp[chosen[0]]), 0.0)
    while len(chosen) < m:
        cumulative = np.cumsum(d2)
        if cumulative[-1] <= 0.0:
            break  # every candidate coincides with a chosen point
        j = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        j = min(j, len(pool) - 1)
        chosen.append(j)
        np.minimum(d2, np.maximum(sq + sq[j] - 2.0 * (xp @ xp[j]), 0.0), out=d2)
        report.update(len(chosen))
    report.finish()
    return pool[np.sort(np.asarray(chosen))]


def sparse_posterior_mean(
    all_x: np.ndarray,
    obs_x: np.ndarray,
    obs_y: np.ndarray,
    params: GPParams,
    inducing: np.ndarray,
    progress: ProgressFactory = quiet_progress,
) -> np.ndarray:
    """DTC / projected-process posterior mean with inducing inputs `inducing` (rows of obs_x).

    mean(x*) = k(x*, Z) (s2 K_mm + K_mn K_nm)^-1 K_mn y, computed in the stable form
    K_mm = L L^T, B = I + L^-1 K_mn K_nm L^-T / s2, w = L^-T B^-1 L^-1 K_mn y / s2 (as in
    GPflow's SGPR), so B's eigenvalues are at least 1 however close the inducing points lie.
    K_mn K_nm is accumulated over row chunks of the observations in float64 (a rank-k update):
    in float32 its rounding, magnified by L^-1 on both sides, would swamp B. The cross-
    covariances themselves are computed in float32 like the exact path's; the noise gets the
    exact path's 1e-6 too, and K_mm a relative jitter of 1e-6 (more if it is still singular).
    """
    yn, y_mean, y_std = _standardise(obs_y)
    amp, ls = params.amplitude, params.length_scale
    s2 = params.noise + 1e-6
    z = np.ascontiguousarray(obs_x[inducing], dtype=np.float32)
    m = len(z)
    kmm = _unit_rbf(z, z, ls).astype(np.float64) * amp
    kmm[np.diag_indices_from(kmm)] += 1e-6 * amp
    chol = cholesky_with_jitter(kmm)
    gram = np.zeros((m, m), dtype=np.float64, order="F")
    kmy = np.zeros(m, dtype=np.float64)
    report = progress("solve", len(obs_x))
    for start in range(0, len(obs_x), CHUNK_ROWS):
        block = np.ascontiguousarray(obs_x[start : start + CHUNK_ROWS], dtype=np.float32)
        kc = _unit_rbf(block, z, ls).astype(np.float64)
        # kc.T is Fortran-ordered (m x rows): dsyrk adds kc.T @ kc to gram's lower triangle.
        gram = dsyrk(1.0, kc.T, beta=1.0, c=gram, trans=0, lower=1, overwrite_c=1)
        kmy += kc.T @ yn[start : start + len(block)]
        del kc
        report.update(start + len(block))
    gram = np.tril(gram)
    gram += np.tril(gram, -1).T
    gram *= amp * amp
    kmy *= amp
    # L^-1 G L^-T, then B = I + that / s2.
    half = solve_triangular(chol, gram, lower=True, check_finite=False)
    inner = solve_triangular(chol, half.T, lower=True, check_finite=False)
    del half, gram
    inner = (inner + inner.T) * (0.5 / s2)
    inner[np.diag_indices_from(inner)] += 1.0
    chol_b = cholesky_with_jitter(inner)
    c = solve_triangular(
        chol_b, solve_triangular(chol, kmy, lower=True, check_finite=False) / s2,
        lower=True, check_finite=False,
    )  # fmt: skip
    v = solve_triangular(chol_b, c, lower=True, trans="T", check_finite=False)
    w = solve_triangular(chol, v, lower=True, trans="T", check_finite=False)
    report.finish()
    weights = (w * amp).astype(np.float32)
    return _predict(all_x, z, weights, ls, progress) * y_std + y_mean


def read_embeddings(path: str, dim: int) -> np.ndarray:
    """The vocabulary's float32 rows, read once (no float64 or second copy of the matrix)."""
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
    emb = raw.reshape(-1, dim).astype(np.float32, copy=False)
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


@dataclass
class GPResult:
    mean: np.ndarray
    params: GPParams | None
    observed: int
    method: str  # "prior", "exact" or "sparse"
    inducing: int | None = None


def run_gp(
    embeddings: np.ndarray,
    ids: np.ndarray,
    rewards: np.ndarray,
    max_fit_points: int = DEFAULT_MAX_FIT_POINTS,
    seed: int = 0,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    inducing_points: int = DEFAULT_INDUCING_POINTS,
    progress: ProgressFactory = quiet_progress,
    blocks: tuple[int, ...] | None = None,
) -> GPResult:
    """Posterior mean for all concepts; with no observations the prior mean (0) is returned.

    Exact while the distinct observed concepts number at most max(exact_limit,
    inducing_points) (with M >= n the sparse form only costs more), sparse above. With
    `blocks` the embeddings are that many blocks of columns, each normalised on its own and
    weighted by the fit (block_kernel.py); without, each row is normalised as a whole.
    """
    x = l2_normalise(embeddings) if blocks is None else normalise_blocks(embeddings, blocks)
    uid, y = aggregate(ids, rewards)
    if len(uid) == 0:
        return GPResult(np.zeros(len(x), dtype=np.float64), None, 0, "prior")
    params = fit_hyperparameters(x[uid], y, max_fit_points, seed, progress, blocks)
    if blocks is not None and params.block_weights is not None:
        x = scale_blocks(x, blocks, params.block_weights)
    obs_x = x[uid]
    if len(uid) <= max(exact_limit, inducing_points):
        return GPResult(posterior_mean(x, obs_x, y, params, progress), params, len(uid), "exact")
    inducing = choose_inducing(obs_x, inducing_points, seed, progress)
    mean = sparse_posterior_mean(x, obs_x, y, params, inducing, progress)
    return GPResult(mean, params, len(uid), "sparse", len(inducing))


def run(
    embeddings: np.ndarray,
    ids: np.ndarray,
    rewards: np.ndarray,
    max_fit_points: int,
    seed: int,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    inducing_points: int = DEFAULT_INDUCING_POINTS,
) -> tuple[np.ndarray, GPParams | None, int]:
    """run_gp's mean, hyperparameters and number of distinct observed concepts."""
    result = run_gp(embeddings, ids, rewards, max_fit_points, seed, exact_limit, inducing_points)
    return result.mean, result.params, result.observed


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, not {text}")
    return value


def _blocks(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) <= 0:
        raise argparse.ArgumentTypeError(
            f"must be positive integers separated by commas, not {text}"
        )
    return widths


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m ietrainer.gp",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--embeddings", required=True, help="raw little-endian float32 [V, D]")
    p.add_argument("--dim", type=int, required=True, help="D, the embedding width")
    p.add_argument("--observed", required=True, help='JSON {"ids": [...], "rewards": [...]}')
    p.add_argument(
        "--out",
        required=True,
        help="posterior mean, [V] float32 with a checked header (handover.py)",
    )
    p.add_argument(
        "--max-fit-points", type=_positive, default=DEFAULT_MAX_FIT_POINTS,
        help="observations the hyperparameters are fitted on (a seeded subset)",
    )  # fmt: skip
    p.add_argument(
        "--exact-limit", type=_non_negative, default=DEFAULT_EXACT_LIMIT,
        help="the exact GP up to this many distinct observed concepts, the sparse one above",
    )  # fmt: skip
    p.add_argument(
        "--inducing-points", type=_positive, default=DEFAULT_INDUCING_POINTS,
        help="M, the sparse GP's inducing points (its cost grows as n M^2)",
    )  # fmt: skip
    p.add_argument(
        "--blocks", type=_blocks, default=None,
        help="widths of the feature blocks, e.g. 100,256: one fitted length scale per block",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    die_with_parent()
    t0 = time.time()
    try:
        if args.blocks and sum(args.blocks) != args.dim:
            raise UsageError(f"--blocks {args.blocks} must add up to --dim {args.dim}")
        emb = read_embeddings(args.embeddings, args.dim)
        ids, rewards = read_observed(args.observed, len(emb))
        result = run_gp(
            emb, ids, rewards, args.max_fit_points, args.seed,
            args.exact_limit, args.inducing_points, progress=Progress, blocks=args.blocks,
        )  # fmt: skip
        handover.write_f32(args.out, result.mean)
    except UsageError as exc:
        log(f"error: {exc}")
        emit("error", message=str(exc))
        return EXIT_USAGE
    params = result.params
    emit(
        "done",
        lengthScale=params.length_scale if params else None,
        noise=params.noise if params else None,
        amplitude=params.amplitude if params else None,
        blockWeights=list(params.block_weights) if params and params.block_weights else None,
        observed=result.observed,
        concepts=len(emb),
        method=result.method,
        inducing=result.inducing,
        seconds=round(time.time() - t0, 3),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

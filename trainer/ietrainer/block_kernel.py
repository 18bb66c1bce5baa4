"""An RBF kernel with one length scale per block of features (the GP's `--blocks`).

Concept features can be several embeddings side by side (the text embedding, the WordNet
taxonomy features), each block L2-normalised. With one length scale per block the kernel is
the product of one RBF per block,

    k(a, b) = exp(-sum_i |a_i - b_i|^2 / (2 l_i^2)),   |a_i - b_i|^2 = 2 - 2 a_i.b_i,

and fitting the l_i by marginal likelihood decides from the observed rewards how much each
block counts: a block whose length scale grows large stops mattering. It is automatic
relevance determination over a few blocks rather than over every coordinate, so it costs one
n x n matrix per block and the fit stays O(f^3) per likelihood evaluation.

The fitted kernel equals the plain RBF on the blocks rescaled by sqrt(w_i), w_i = c_i / C,
c_i = 1 / l_i^2, C = sum c_i, with one length scale 1 / sqrt(C): `as_weights` gives the w_i
and that length scale, so the exact and sparse predictions run unchanged on rescaled rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel, StationaryKernelMixin

# At 0.1 two concepts are already unrelated below a cosine of about 0.99. Clusters of concepts
# with identical rewards (names that find the same images) otherwise pull a scale down to 0.01,
# where the GP only interpolates between near-duplicates and the float32 grams' rounding of
# 1 - a.b (1e-7), magnified 10,000-fold, outgrows the fitted noise: the solve then fails as not
# positive definite.
LENGTH_SCALE_BOUNDS = (0.1, 1e2)


def block_slices(blocks: Sequence[int]) -> list[slice]:
    """The column range of each block, in order."""
    ends = np.cumsum(blocks)
    return [slice(int(end - width), int(end)) for width, end in zip(blocks, ends, strict=True)]


def normalise_blocks(x: np.ndarray, blocks: Sequence[int]) -> np.ndarray:
    """Each block of columns L2-normalised per row (an all-zero block stays zero)."""
    if sum(blocks) != x.shape[1]:
        raise ValueError(f"blocks {list(blocks)} do not add up to the width {x.shape[1]}")
    out = np.empty_like(x)
    for cols in block_slices(blocks):
        part = x[:, cols]
        # einsum and in-place ops: a fraction of np.linalg.norm's time (every update).
        norms = np.sqrt(np.einsum("ij,ij->i", part, part))
        np.maximum(norms, 1e-12, out=norms)
        np.divide(part, norms[:, None], out=out[:, cols])
    return out


def scale_blocks(x: np.ndarray, blocks: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """Block i multiplied by sqrt(weights[i]) in place: unit-block rows become unit rows."""
    for cols, weight in zip(block_slices(blocks), weights, strict=True):
        x[:, cols] *= np.sqrt(weight).astype(x.dtype)
    return x


class BlockRBF(StationaryKernelMixin, Kernel):  # type: ignore[misc]
    """RBF with one length scale per block of unit-normalised features."""

    def __init__(
        self,
        blocks: tuple[int, ...],
        length_scale: Sequence[float] | np.ndarray = (1.0, 1.0),
        length_scale_bounds: tuple[float, float] = LENGTH_SCALE_BOUNDS,
    ) -> None:
        self.blocks = tuple(blocks)
        self.length_scale = length_scale
        self.length_scale_bounds = length_scale_bounds

    @property
    def hyperparameter_length_scale(self) -> Hyperparameter:
        return Hyperparameter("length_scale", "numeric", self.length_scale_bounds, len(self.blocks))

    def _distances(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """|a_i - b_i|^2 per block, for unit-normalised blocks."""
        return [
            np.maximum(2.0 - 2.0 * (x[:, cols] @ y[:, cols].T), 0.0)
            for cols in block_slices(self.blocks)
        ]

    # X and Y: scikit-learn's names for the Kernel interface this overrides.
    def __call__(
        self,
        X: np.ndarray,  # noqa: N803
        Y: np.ndarray | None = None,  # noqa: N803
        eval_gradient: bool = False,
    ) -> Any:
        x = np.atleast_2d(X)
        if eval_gradient and Y is not None:
            raise ValueError("the gradient is only available when Y is None")
        scales = np.broadcast_to(np.asarray(self.length_scale, dtype=np.float64), len(self.blocks))
        dists = self._distances(x, x if Y is None else np.atleast_2d(Y))
        exponent = np.zeros_like(dists[0])
        for d, scale in zip(dists, scales, strict=True):
            exponent -= d / (2.0 * scale * scale)
        k = np.exp(exponent)
        if not eval_gradient:
            return k
        if self.hyperparameter_length_scale.fixed:
            return k, np.empty((len(x), len(x), 0))
        # d k / d log l_i = k * |a_i - b_i|^2 / l_i^2
        pairs = zip(dists, scales, strict=True)
        grad = np.stack([k * d / (scale * scale) for d, scale in pairs], axis=2)
        return k, grad

    def diag(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        return np.ones(len(X))

    def as_weights(self) -> tuple[tuple[float, ...], float]:
        """(w_i, l): the plain RBF with length scale l on blocks scaled by sqrt(w_i)."""
        scales = np.broadcast_to(np.asarray(self.length_scale, dtype=np.float64), len(self.blocks))
        precision = 1.0 / scales**2
        total = float(precision.sum())
        return tuple(float(p / total) for p in precision), float(1.0 / np.sqrt(total))

    def __repr__(self) -> str:
        scales = ", ".join(f"{s:.3g}" for s in np.atleast_1d(self.length_scale))
        return f"BlockRBF(blocks={list(self.blocks)}, length_scale=[{scales}])"

"""Time the GP update for 1,000 and 10,000 observed concepts over a WordNet-sized vocabulary.

Run from the repository root: /usr/bin/python3 bench/gp.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "trainer"))
from ietrainer.gp import run  # noqa: E402

V, D = 117_798, 100


def main() -> int:
    rng = np.random.default_rng(0)
    # Text embeddings live near a low-dimensional manifold; mimic that so the fit has
    # structure to find, and make the reward a smooth function of the latent position.
    latent = rng.standard_normal((V, 8)).astype(np.float32)
    mix = rng.standard_normal((8, D)).astype(np.float32)
    emb = latent @ mix + 0.5 * rng.standard_normal((V, D)).astype(np.float32)
    truth = np.sin(latent[:, 0]) + 0.5 * np.cos(latent[:, 1])
    for n in (1_000, 10_000):
        ids = rng.choice(V, size=n, replace=False)
        y = truth[ids] + 0.3 * rng.standard_normal(n)
        y = (y - y.mean()) / y.std()
        t0 = time.time()
        mean, params, _ = run(emb, ids, y, max_fit_points=1000, seed=0)
        dt = time.time() - t0
        corr = float(np.corrcoef(mean, truth)[0, 1])
        print(
            f"n={n:>6} V={V} D={D}: {dt:6.2f} s  lengthScale={params.length_scale:.3f} "
            f"noise={params.noise:.3f} corr(mean, truth)={corr:.3f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.gaussian_process.kernels import RBF
from test_gp import run_cli

from ietrainer.block_kernel import BlockRBF, normalise_blocks, scale_blocks
from ietrainer.gp import run_gp


def two_blocks(v: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An uninformative first block (8 wide) beside a second (6 wide) the reward depends on."""
    rng = np.random.default_rng(seed)
    noise_block = rng.standard_normal((v, 8))
    signal_block = rng.standard_normal((v, 6))
    unit = signal_block / np.linalg.norm(signal_block, axis=1, keepdims=True)
    truth = np.sin(3.0 * unit @ rng.standard_normal(6) / np.sqrt(6))
    # The blocks arrive at different scales, as concatenated embeddings do.
    return np.hstack([5.0 * noise_block, 0.2 * signal_block]).astype(np.float32), truth


def test_each_block_is_normalised_on_its_own() -> None:
    x = np.array([[3.0, 4.0, 0.0, 2.0], [0.0, 0.0, 1.0, 1.0]], dtype=np.float32)
    out = normalise_blocks(x, (2, 2))
    np.testing.assert_allclose(out[0], [0.6, 0.8, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(out[1], [0.0, 0.0, 2**-0.5, 2**-0.5], atol=1e-6)


def test_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    x = normalise_blocks(rng.standard_normal((12, 7)), (3, 4))
    kernel = BlockRBF((3, 4), [0.7, 1.9])
    _, grad = kernel(x, eval_gradient=True)
    eps = 1e-6
    for i in range(2):
        theta = kernel.theta.copy()
        theta[i] += eps
        up = kernel.clone_with_theta(theta)(x)
        theta[i] -= 2 * eps
        down = kernel.clone_with_theta(theta)(x)
        np.testing.assert_allclose(grad[:, :, i], (up - down) / (2 * eps), atol=1e-6)


def test_weights_give_the_plain_rbf_on_scaled_blocks() -> None:
    rng = np.random.default_rng(2)
    x = normalise_blocks(rng.standard_normal((10, 9)), (4, 5))
    kernel = BlockRBF((4, 5), [0.5, 2.0])
    weights, length_scale = kernel.as_weights()
    assert abs(sum(weights) - 1.0) < 1e-12 and weights[0] > weights[1]
    scaled = scale_blocks(x.copy(), (4, 5), weights)
    np.testing.assert_allclose(kernel(x), RBF(length_scale)(scaled), atol=1e-10)


def test_the_fit_gives_the_uninformative_block_little_weight() -> None:
    emb, truth = two_blocks(3000, seed=3)
    rng = np.random.default_rng(4)
    ids = rng.choice(len(emb), size=400, replace=False)
    rewards = truth[ids] + 0.05 * rng.standard_normal(len(ids))
    blocked = run_gp(emb, ids, rewards, blocks=(8, 6))
    plain = run_gp(emb, ids, rewards)
    assert blocked.params is not None and blocked.params.block_weights is not None
    assert blocked.params.block_weights[1] > 0.9
    held_out = np.setdiff1d(np.arange(len(emb)), ids)
    fit_blocked = np.corrcoef(blocked.mean[held_out], truth[held_out])[0, 1]
    fit_plain = np.corrcoef(plain.mean[held_out], truth[held_out])[0, 1]
    # The whole row normalised at once is dominated by the wide, loud, uninformative block.
    assert fit_blocked > 0.9 and fit_blocked > fit_plain + 0.2


def test_cli_reports_block_weights_and_checks_the_widths(tmp_path: Path) -> None:
    emb, truth = two_blocks(400, seed=5)
    ids = list(range(0, 400, 4))
    rc, done, out, _ = run_cli(tmp_path, emb, ids, truth[ids].tolist(), ["--blocks", "8,6"])
    assert rc == 0 and out is not None and len(out) == 400
    assert len(done["blockWeights"]) == 2 and done["blockWeights"][1] > 0.9
    rc, done, _, _ = run_cli(tmp_path, emb, ids, truth[ids].tolist())
    assert rc == 0 and done["blockWeights"] is None
    for flags in (["--blocks", "8,5"], ["--blocks", "8,x"], ["--blocks", "0,14"]):
        rc, _, _, err = run_cli(tmp_path, emb, ids, truth[ids].tolist(), flags)
        assert rc == 2 and "--blocks" in err, err


def test_near_duplicates_with_equal_rewards_do_not_shrink_a_length_scale_below_its_bound() -> None:
    # Triples of almost identical rows sharing a reward, rewards unrelated between triples: what
    # clusters of concepts that return the same images look like. Marginal likelihood then wants
    # a length scale that only interpolates within triples.
    rng = np.random.default_rng(6)
    rows = np.repeat(rng.standard_normal((150, 8)), 3, axis=0)
    rows += 1e-4 * rng.standard_normal(rows.shape)
    emb = np.hstack([rows, rng.standard_normal((450, 6))]).astype(np.float32)
    rewards = np.repeat(rng.standard_normal(150), 3)
    result = run_gp(emb, np.arange(450), rewards, blocks=(8, 6))
    assert result.params is not None
    assert result.params.length_scale >= 0.099
    assert np.isfinite(result.mean).all()

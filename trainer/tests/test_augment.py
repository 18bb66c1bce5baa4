from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as tvf
from torchvision import transforms

from ietrainer import augment_ops as ops
from ietrainer.augment import TwoViewAugment
from ietrainer.augment_params import ViewRecipe, draw_view, generator_for, moco_recipes
from ietrainer.config import IMAGENET_MEAN, IMAGENET_STD
from ietrainer.data import BatchPlan
from ietrainer.decode import decode_file
from ietrainer.synthetic import write_synthetic_jpegs


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return write_synthetic_jpegs(str(tmp_path_factory.mktemp("photos")), 24, seed=5, max_side=160)


def per_sample(fn, x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    return torch.stack([fn(x[i], float(factors[i])) for i in range(x.shape[0])])


def test_colour_ops_match_torchvision() -> None:
    torch.manual_seed(0)
    x = torch.rand(6, 3, 20, 30)
    x[0] = 0.5  # a grey image: hue is undefined, the value must survive
    f = torch.rand(6) * 0.8 + 0.6
    shift = torch.rand(6) * 0.2 - 0.1
    cases = [
        (ops.adjust_brightness, tvf.adjust_brightness, f),
        (ops.adjust_contrast, tvf.adjust_contrast, f),
        (ops.adjust_saturation, tvf.adjust_saturation, f),
        (ops.adjust_hue, tvf.adjust_hue, shift),
    ]
    for ours, theirs, factors in cases:
        torch.testing.assert_close(
            ours(x.clone(), factors), per_sample(theirs, x, factors), atol=1e-5, rtol=0
        )
    wide = torch.tensor([-0.33, -0.25, -0.1, 0.1, 0.25, 0.33])  # one wrap is exact below 1/3
    torch.testing.assert_close(
        ops.adjust_hue(x.clone(), wide), per_sample(tvf.adjust_hue, x, wide), atol=1e-5, rtol=0
    )
    grey = torch.stack([tvf.rgb_to_grayscale(im, 3) for im in x])
    torch.testing.assert_close(ops.to_grayscale(x.clone()), grey, atol=1e-6, rtol=0)
    torch.testing.assert_close(ops.solarize(x.clone()), tvf.solarize(x, 128 / 255))


def test_blur_matches_torchvision_within_its_truncation() -> None:
    torch.manual_seed(1)
    x = torch.rand(4, 3, 40, 36)
    sigmas = [0.1, 0.7, 1.3, 2.0]
    ours = ops.gaussian_blur(x.clone(), sigmas, ops.blur_radius(23, max(sigmas)))
    theirs = torch.stack([tvf.gaussian_blur(x[i], 23, sigmas[i]) for i in range(4)])
    # The kernel stops at 3 sigma: on white noise (the worst case) within a quarter 8-bit level.
    torch.testing.assert_close(ours, theirs, atol=1 / 1024, rtol=0)
    # One sample alone takes the scalar path: same numbers.
    alone = ops.gaussian_blur(x[2:3].clone(), sigmas[2:3], ops.blur_radius(23, 2.0))
    torch.testing.assert_close(alone, ours[2:3], atol=1e-6, rtol=0)


def test_crop_boxes_follow_random_resized_crop() -> None:
    """Our vectorised RandomResizedCrop.get_params against torchvision's, 4000 draws each."""
    n, height, width = 4000, 120, 200
    gen = generator_for(0, 0, 0)
    p = draw_view(ViewRecipe(), torch.tensor([[height, width]] * n), gen)
    assert bool(((p.height > 0) & (p.top + p.height <= height)).all())
    assert bool(((p.width > 0) & (p.left + p.width <= width)).all())
    ours = np.stack(
        [
            (p.height * p.width).numpy() / (height * width),
            np.log(p.width.numpy() / p.height.numpy()),
            (p.top + p.height / 2).numpy() / height,
        ]
    )
    torch.manual_seed(0)
    img = torch.zeros(3, height, width)
    boxes = [
        transforms.RandomResizedCrop.get_params(img, [0.2, 1.0], [3 / 4, 4 / 3]) for _ in range(n)
    ]
    i, _, h, w = (np.array(v, dtype=np.float64) for v in zip(*boxes, strict=True))
    theirs = np.stack([h * w / (height * width), np.log(w / h), (i + h / 2) / height])
    for a, b in zip(ours, theirs, strict=True):
        se = math.sqrt(a.var() / n + b.var() / n)
        assert abs(a.mean() - b.mean()) < 4 * se
        assert abs(a.std() - b.std()) < 0.05 * b.std() + 1e-3


def test_crop_falls_back_to_the_centre_of_extreme_shapes() -> None:
    gen = generator_for(0, 0, 0)
    p = draw_view(ViewRecipe(scale=(0.99, 1.0)), torch.tensor([[10, 400]] * 50), gen)
    # No 0.99-area box with a ratio in [3/4, 4/3] fits a 10 x 400 image: the central 10 x 13.
    assert set(p.height.tolist()) == {10} and set(p.width.tolist()) == {13}
    assert set(p.left.tolist()) == {(400 - 13) // 2}


def test_jitter_order_is_a_uniform_permutation() -> None:
    p = draw_view(ViewRecipe(), torch.tensor([[50, 50]] * 24000), generator_for(3, 1, 0))
    assert all(sorted(row) == [0, 1, 2, 3] for row in p.order[:100].tolist())
    counts = np.bincount(p.order[:, 0].numpy(), minlength=4)
    assert np.all(np.abs(counts - 6000) < 4 * math.sqrt(6000 * 0.75))
    assert abs(float(p.jitter.float().mean()) - 0.8) < 0.015
    lo, hi = float(p.factors[:, 3].min()), float(p.factors[:, 3].max())
    assert -0.1 <= lo < -0.099 and 0.099 < hi <= 0.1


def test_views_depend_only_on_seed_and_step(photos: list[str]) -> None:
    images = [decode_file(p, 96) for p in photos[:6]]
    aug = TwoViewAugment(48, IMAGENET_MEAN, IMAGENET_STD, moco_recipes(True), seed=4)
    a1, a2 = aug(images, 7)
    b1, b2 = TwoViewAugment(48, IMAGENET_MEAN, IMAGENET_STD, moco_recipes(True), seed=4)(images, 7)
    assert a1.equal(b1) and a2.equal(b2)
    c1, _ = aug(images, 8)
    assert not a1.equal(c1) and not a1.equal(a2)
    assert a1.shape == (6, 3, 48, 48) and a1.dtype == torch.float32


def test_chunking_does_not_change_the_views(photos: list[str]) -> None:
    images = [decode_file(p, 96) for p in photos[:8]]
    whole = TwoViewAugment(40, IMAGENET_MEAN, IMAGENET_STD, moco_recipes(True), 2, 1 << 30)
    single = TwoViewAugment(40, IMAGENET_MEAN, IMAGENET_STD, moco_recipes(True), 2, 1)
    for x, y in zip(whole(images, 3), single(images, 3), strict=True):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=0)


def _hue(x: torch.Tensor) -> torch.Tensor:
    """HSV hue in turns of [n, 3, h, w] images in [0, 1]."""
    r, g, b = x.unbind(1)
    v, m = x.amax(1), x.amin(1)
    d = (v - m).clamp_min(1e-6)
    h = torch.where(r == v, (g - b) / d, torch.where(g == v, 2 + (b - r) / d, 4 + (r - g) / d))
    return (h / 6) % 1.0


def _jitter_changes(before: torch.Tensor, after: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-image change of brightness (ratio of mean luma), chroma and hue (turns)."""
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    luma = [(t * weights).sum(1).mean((1, 2)) for t in (before, after)]
    chroma = [(t.amax(1) - t.amin(1)).mean((1, 2)) for t in (before, after)]
    coloured = (before.amax(1) - before.amin(1) > 0.2) & (after.amax(1) - after.amin(1) > 0.2)
    shift = (_hue(after) - _hue(before) + 0.5) % 1.0 - 0.5
    hue = [float(shift[i][coloured[i]].median()) for i in range(before.shape[0])]
    return {
        "brightness": (luma[1] / luma[0]).numpy(),
        "chroma": (chroma[1] / chroma[0]).numpy(),
        "hue": np.array(hue),
    }


def test_colour_jitter_changes_images_like_torchvision(photos: list[str]) -> None:
    """ColorJitter(0.4, 0.4, 0.2, 0.1) on PIL images vs the batched jitter, 480 images each: the
    per-image changes of brightness, chroma and hue have the same mean and spread."""
    from PIL import Image

    side, seeds = 64, 20
    pil = [Image.open(p).convert("RGB").resize((side, side), Image.BILINEAR) for p in photos]
    before = torch.stack([tvf.pil_to_tensor(im) for im in pil]).float() / 255
    jitter = transforms.ColorJitter(0.4, 0.4, 0.2, 0.1)
    old = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        old.append(torch.stack([tvf.pil_to_tensor(jitter(im)) for im in pil]).float() / 255)
    recipe = ViewRecipe(scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0, jitter_p=1.0, gray_p=0.0)
    aug = TwoViewAugment(side, (0.0,) * 3, (1.0,) * 3, (recipe, recipe), seed=1)
    images = [(im * 255).round().to(torch.uint8) for im in before]
    new = [aug(images, step)[0] for step in range(seeds)]
    old_changes = _jitter_changes(before.repeat(seeds, 1, 1, 1), torch.cat(old))
    new_changes = _jitter_changes(before.repeat(seeds, 1, 1, 1), torch.cat(new))
    for name, a in old_changes.items():
        b = new_changes[name]
        se = math.sqrt(a.var() / len(a) + b.var() / len(b))
        assert abs(a.mean() - b.mean()) < 4 * se, (name, a.mean(), b.mean())
        assert abs(a.std() - b.std()) < 0.15 * a.std(), (name, a.std(), b.std())


def _stats(views: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-view statistics of [n, 3, s, s] normalised views, in [0, 1] pixel units."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = views * std + mean
    luma = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
    return {
        "red": x[:, 0].mean((1, 2)).numpy(),
        "green": x[:, 1].mean((1, 2)).numpy(),
        "blue": x[:, 2].mean((1, 2)).numpy(),
        "brightness std": luma.std((1, 2)).numpy(),
        "colourfulness": (x.amax(1) - x.amin(1)).mean((1, 2)).numpy(),
        "sharpness": (luma[:, :, 1:] - luma[:, :, :-1]).abs().mean((1, 2)).numpy(),
    }


def test_batched_views_have_the_distribution_of_the_pil_pipeline(
    photos: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old PIL pipeline vs batched tensors, fixed seeds, 32 batches of 24 photos per view.

    Parameters (crop area and aspect, flip/jitter/grey/blur/solarize shares, blur sigma) are
    recorded from torchvision's samplers in the old pipeline; pixel statistics (per-channel
    means, contrast, colourfulness, sharpness) are measured on both pipelines' views. Each mean
    must agree within 4 standard errors of the difference, plus 1% for systematic differences
    that are not the distribution's (the PIL pipeline rounds to 8 bits after every operation).
    """
    from ietrainer.legacy_augment import build_augmentation, load_images

    size, steps = 112, 32
    seen: dict[str, list[float]] = {k: [] for k in ("area", "ratio", "sigma")}
    counts = dict.fromkeys(("flip", "jitter", "grey", "blur", "solarize"), 0)
    get_crop = transforms.RandomResizedCrop.get_params
    get_sigma = transforms.GaussianBlur.get_params
    get_jitter = transforms.ColorJitter.get_params

    def crop(img, scale, ratio):
        i, j, h, w = get_crop(img, scale, ratio)
        width, height = img.size
        seen["area"].append(h * w / (height * width))
        seen["ratio"].append(math.log(w / h))
        return i, j, h, w

    def sigma(lo, hi):
        value = get_sigma(lo, hi)
        counts["blur"] += 1
        seen["sigma"].append(value)
        return value

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)

        return staticmethod(wrapper) if name == "jitter" else wrapper

    monkeypatch.setattr(transforms.RandomResizedCrop, "get_params", staticmethod(crop))
    monkeypatch.setattr(transforms.GaussianBlur, "get_params", staticmethod(sigma))
    monkeypatch.setattr(transforms.ColorJitter, "get_params", counted("jitter", get_jitter))
    monkeypatch.setattr(tvf, "hflip", counted("flip", tvf.hflip))
    monkeypatch.setattr(tvf, "rgb_to_grayscale", counted("grey", tvf.rgb_to_grayscale))
    monkeypatch.setattr(tvf, "solarize", counted("solarize", tvf.solarize))

    n = len(photos)
    plan = BatchPlan(n, 0, n, seed=9, target_fraction=1.0)
    pil = load_images(photos, "target", 2 * size, 1)
    old_views: list[list[torch.Tensor]] = [[], []]
    view_counts = []
    for view, (blur_p, solarize_p) in enumerate(((1.0, 0.0), (0.1, 0.2))):
        counts.update(dict.fromkeys(counts, 0))
        pipeline = build_augmentation(size, IMAGENET_MEAN, IMAGENET_STD, blur_p, solarize_p)
        for step in range(steps):
            for index, seed in plan.batch(step):
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed * 2 + view)
                    old_views[view].append(pipeline(pil[index]))
        view_counts.append(dict(counts))
    old_params = {k: np.array(v) for k, v in seen.items()}

    images = [decode_file(p, 2 * size) for p in photos]
    sizes = torch.tensor([[im.shape[1], im.shape[2]] for im in images])
    aug = TwoViewAugment(size, IMAGENET_MEAN, IMAGENET_STD, moco_recipes(True), seed=9)
    new_views: list[list[torch.Tensor]] = [[], []]
    new_params: dict[str, list[float]] = {k: [] for k in ("area", "ratio", "sigma")}
    new_counts = [dict.fromkeys(counts, 0), dict.fromkeys(counts, 0)]
    for step in range(steps):
        params = aug.params(sizes, step)
        x1, x2 = aug(images, step)
        new_views[0].append(x1)
        new_views[1].append(x2)
        for view, p in enumerate(params):
            area = (p.height * p.width).float() / (sizes[:, 0] * sizes[:, 1]).float()
            new_params["area"] += area.tolist()
            new_params["ratio"] += torch.log(p.width.float() / p.height.float()).tolist()
            new_params["sigma"] += p.sigma[p.blur].tolist()
            c = new_counts[view]
            c["flip"] += int(p.flip.sum())
            c["jitter"] += int(p.jitter.sum())
            c["grey"] += int(p.gray.sum())
            c["blur"] += int(p.blur.sum())
            c["solarize"] += int(p.solarize.sum())

    total = steps * n
    for view in (0, 1):
        for name in counts:
            # torchvision's ColorJitter samples its factors inside RandomApply only when applied;
            # RandomGrayscale is counted by its rgb_to_grayscale call.
            a, b = view_counts[view][name] / total, new_counts[view][name] / total
            se = math.sqrt(max(a * (1 - a), 1e-4) / total * 2)
            assert abs(a - b) < 4 * se + 1e-9, (view, name, a, b)

    for name in ("area", "ratio", "sigma"):
        a, b = old_params[name], np.array(new_params[name])
        se = math.sqrt(a.var() / len(a) + b.var() / len(b))
        assert abs(a.mean() - b.mean()) < 4 * se, (name, a.mean(), b.mean())
        assert abs(a.std() - b.std()) < 0.1 * a.std(), (name, a.std(), b.std())

    for view in (0, 1):
        old = _stats(torch.stack(old_views[view]))
        new = _stats(torch.cat(new_views[view]))
        for name in old:
            a, b = old[name], new[name]
            se = math.sqrt(a.var() / len(a) + b.var() / len(b))
            assert abs(a.mean() - b.mean()) < 4 * se + 0.01 * abs(a.mean()), (view, name)


def test_synthetic_photos_decode_within_bounds(photos: list[str]) -> None:
    img = decode_file(photos[0], 64)
    assert img.dtype == torch.uint8 and img.shape[0] == 3 and max(img.shape[1:]) == 64
    assert Path(photos[0]).stat().st_size > 1000

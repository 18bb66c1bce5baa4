"""Per-sample parameters of MoCo v3's view augmentation, drawn for a whole batch at once.

The distributions are torchvision's (RandomResizedCrop, RandomHorizontalFlip, RandomApply of
ColorJitter with a random order of its four operations, RandomGrayscale, GaussianBlur,
RandomSolarize) as MoCo v3's recipe composes them. Every draw comes from one CPU generator seeded
from ``(seed, step, view)``, with a fixed number of draws per batch, so a batch's views depend only
on ``(seed, step)`` whichever device applies them and however the batch is split for processing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

# Jitter operations, in the order of ColorJitter's arguments (its randperm indexes these).
BRIGHTNESS, CONTRAST, SATURATION, HUE = 0, 1, 2, 3
CROP_ATTEMPTS = 10  # RandomResizedCrop's


@dataclass(frozen=True)
class ViewRecipe:
    """One view's augmentation; defaults are MoCo v3's (BYOL-style asymmetric views)."""

    scale: tuple[float, float] = (0.2, 1.0)
    ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    gray_p: float = 0.2
    blur_p: float = 0.0
    sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0


def moco_recipes(blur: bool) -> tuple[ViewRecipe, ViewRecipe]:
    """MoCo v3's two views: blur always on the first; on the second rarely, plus solarize.

    Presets without blur (small images, where a blur kernel would erase the content) drop the
    blur and the solarization of both views, as the trainer always has.
    """
    if not blur:
        return ViewRecipe(), ViewRecipe()
    return ViewRecipe(blur_p=1.0), ViewRecipe(blur_p=0.1, solarize_p=0.2)


@dataclass
class ViewParams:
    """Parameters of one view for ``n`` samples (all CPU tensors)."""

    top: torch.Tensor  # [n] int64, crop box in source pixels
    left: torch.Tensor
    height: torch.Tensor
    width: torch.Tensor
    flip: torch.Tensor  # [n] bool
    jitter: torch.Tensor  # [n] bool
    factors: torch.Tensor  # [n, 4] float32: brightness, contrast, saturation, hue shift
    order: torch.Tensor  # [n, 4] int64, a permutation of the four jitter operations
    gray: torch.Tensor  # [n] bool
    blur: torch.Tensor  # [n] bool
    sigma: torch.Tensor  # [n] float32
    solarize: torch.Tensor  # [n] bool

    def __len__(self) -> int:
        return int(self.top.shape[0])


def mix_seed(seed: int, step: int, stream: int) -> int:
    """A 63-bit seed for (seed, step, stream): SplitMix64's finaliser over their combination."""
    x = (seed * 0x9E3779B97F4A7C15 + step * 0xBF58476D1CE4E5B9 + stream * 0x94D049BB133111EB) & (
        2**64 - 1
    )
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & (2**64 - 1)
    x ^= x >> 31
    return x & (2**63 - 1)


def generator_for(seed: int, step: int, stream: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(mix_seed(seed, step, stream))
    return gen


def _uniform(gen: torch.Generator, shape: Sequence[int], low: float, high: float) -> torch.Tensor:
    return torch.rand(*shape, generator=gen, dtype=torch.float64) * (high - low) + low


def _crop_boxes(
    recipe: ViewRecipe, heights: torch.Tensor, widths: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """RandomResizedCrop.get_params for every sample: the first of ten attempts that fits, else
    the central crop clamped to the ratio range."""
    n = heights.shape[0]
    h_img, w_img = heights.to(torch.float64), widths.to(torch.float64)
    area = (h_img * w_img).unsqueeze(1)
    target = area * _uniform(gen, (n, CROP_ATTEMPTS), *recipe.scale)
    log_lo, log_hi = math.log(recipe.ratio[0]), math.log(recipe.ratio[1])
    aspect = torch.exp(_uniform(gen, (n, CROP_ATTEMPTS), log_lo, log_hi))
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    fits = (w > 0) & (w <= w_img.unsqueeze(1)) & (h > 0) & (h <= h_img.unsqueeze(1))
    # Index of the first attempt that fits (argmax of a bool row returns its first True).
    first = fits.to(torch.int8).argmax(dim=1, keepdim=True)
    any_fit = fits.any(dim=1)
    w = w.gather(1, first).squeeze(1)
    h = h.gather(1, first).squeeze(1)

    # Fallback: the whole image, narrowed to the extreme ratio when it is outside the range.
    in_ratio = w_img / h_img
    fb_w, fb_h = w_img.clone(), h_img.clone()
    narrow = in_ratio < min(recipe.ratio)
    wide = in_ratio > max(recipe.ratio)
    fb_h = torch.where(narrow, torch.round(w_img / min(recipe.ratio)), fb_h)
    fb_w = torch.where(wide, torch.round(h_img * max(recipe.ratio)), fb_w)
    w = torch.where(any_fit, w, fb_w)
    h = torch.where(any_fit, h, fb_h)

    # Positions are drawn for every sample (fixed number of draws); fallbacks are centred.
    u_top = torch.rand(n, generator=gen, dtype=torch.float64)
    u_left = torch.rand(n, generator=gen, dtype=torch.float64)
    top = torch.floor(u_top * (h_img - h + 1))
    left = torch.floor(u_left * (w_img - w + 1))
    top = torch.where(any_fit, top, torch.div(h_img - h, 2, rounding_mode="floor"))
    left = torch.where(any_fit, left, torch.div(w_img - w, 2, rounding_mode="floor"))
    return top.long(), left.long(), h.long(), w.long()


def draw_view(recipe: ViewRecipe, sizes: torch.Tensor, gen: torch.Generator) -> ViewParams:
    """Draw one view's parameters for images of ``sizes`` ([n, 2] heights and widths)."""
    n = sizes.shape[0]
    top, left, height, width = _crop_boxes(recipe, sizes[:, 0], sizes[:, 1], gen)
    flip = torch.rand(n, generator=gen) < recipe.flip_p
    jitter = torch.rand(n, generator=gen) < recipe.jitter_p
    b, c, s = recipe.brightness, recipe.contrast, recipe.saturation
    factors = torch.stack(
        [
            _uniform(gen, (n,), max(0.0, 1 - b), 1 + b),
            _uniform(gen, (n,), max(0.0, 1 - c), 1 + c),
            _uniform(gen, (n,), max(0.0, 1 - s), 1 + s),
            _uniform(gen, (n,), -recipe.hue, recipe.hue),
        ],
        dim=1,
    ).to(torch.float32)
    # A uniformly random permutation per sample, like ColorJitter's randperm(4).
    order = torch.rand(n, 4, generator=gen).argsort(dim=1)
    gray = torch.rand(n, generator=gen) < recipe.gray_p
    blur = torch.rand(n, generator=gen) < recipe.blur_p
    sigma = _uniform(gen, (n,), *recipe.sigma).to(torch.float32)
    solarize = torch.rand(n, generator=gen) < recipe.solarize_p
    return ViewParams(
        top, left, height, width, flip, jitter, factors, order, gray, blur, sigma, solarize
    )

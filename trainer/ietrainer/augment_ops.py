"""Tensor operations of the view augmentation, each on a batch ``x`` of shape [n, 3, H, W].

Values are floats in [0, 1] until :func:`normalize`; per-sample factors are tensors of shape [n] on
``x``'s device. The colour operations follow torchvision's tensor implementations (the same
blends, clamps and HSV hue rotation) but avoid ``torch.where``, ``remainder`` and boolean
tensors, which run an order of magnitude slower than plain arithmetic on CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as nnf

# ITU-R 601-2 luma, as torchvision's rgb_to_grayscale and PIL's convert("L").
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)
# RandomSolarize(128) on 8-bit images inverts values >= 128.
SOLARIZE_THRESHOLD = 128 / 255
# Hue sector offsets of R, G, B in the HSV-to-RGB formula (below).
_HUE_OFFSETS = (5.0, 3.0, 1.0)
ANTIALIAS_ABOVE = 1.25


def _col(f: torch.Tensor) -> torch.Tensor:
    return f.view(-1, 1, 1, 1)


_CONSTANTS: dict[tuple[tuple[float, ...], str, torch.dtype], torch.Tensor] = {}


def _channels(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """Per-channel constants [1, 3, 1, 1] on ``like``'s device, made once: creating a CUDA
    tensor from Python values waits for the stream, which would stall the side stream's queue."""
    key = (tuple(values), str(like.device), like.dtype)
    if key not in _CONSTANTS:
        made = torch.tensor(values, dtype=like.dtype, device=like.device)
        _CONSTANTS[key] = made.view(1, 3, 1, 1)
    return _CONSTANTS[key]


def _at_least(x: torch.Tensor, threshold: torch.Tensor | float) -> torch.Tensor:
    """[x >= threshold] as 0/1 in x's dtype. On CPU written straight into a float tensor (a
    boolean intermediate costs ~5x more there); elsewhere through a boolean."""
    if x.device.type == "cpu":
        return torch.ge(x, threshold, out=torch.empty_like(x))
    return (x >= threshold).to(x.dtype)


def crop_resize(
    images: Sequence[torch.Tensor],
    boxes: Sequence[tuple[int, int, int, int]],
    flips: Sequence[bool],
    size: int,
    out: torch.Tensor,
) -> None:
    """``out[k]`` = image k's box (top, left, height, width) resized to size x size, in [0, 1].

    Bilinear; antialiased (the triangle filter of PIL's BILINEAR resize, which RandomResizedCrop
    uses on PIL images) when shrinking by more than ``ANTIALIAS_ABOVE``: below that every source
    pixel already reaches the output and the filter changes little, at 2-3x the CPU cost. Mirrored
    where ``flips`` says; images are uint8 [3, h, w] on ``out``'s device.
    """
    for k, (img, (top, left, h, w), flip) in enumerate(zip(images, boxes, flips, strict=True)):
        crop = img[:, top : top + h, left : left + w]
        if flip:  # resizing commutes with mirroring; the source is the smaller of the two
            crop = crop.flip(-1)
        if h == size and w == size:
            out[k].copy_(crop)
            continue
        resized = nnf.interpolate(
            crop.unsqueeze(0).float(),
            size=(size, size),
            mode="bilinear",
            align_corners=False,
            antialias=max(h, w) > size * ANTIALIAS_ABOVE,
        )
        out[k].copy_(resized[0])
    out.mul_(1.0 / 255.0)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma, [n, 1, H, W]."""
    r, g, b = x.unbind(1)
    gray = r * GRAY_WEIGHTS[0]
    gray.add_(g, alpha=GRAY_WEIGHTS[1]).add_(b, alpha=GRAY_WEIGHTS[2])
    return gray.unsqueeze(1)


def to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """RandomGrayscale's output: luma in all three channels (in place)."""
    return x.copy_(grayscale(x).expand_as(x))


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return x.mul_(_col(factor)).clamp_(0.0, 1.0)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the image's mean luma (a per-image constant)."""
    means = x.mean(dim=(2, 3))
    mean = means[:, 0] * GRAY_WEIGHTS[0] + means[:, 1] * GRAY_WEIGHTS[1]
    mean = mean + means[:, 2] * GRAY_WEIGHTS[2]
    f = _col(factor)
    return x.mul_(f).add_((1.0 - f) * _col(mean)).clamp_(0.0, 1.0)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the per-pixel luma."""
    f = _col(factor)
    gray = grayscale(x).mul_(1.0 - f)
    return x.mul_(f).add_(gray).clamp_(0.0, 1.0)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue by ``shift`` turns (torchvision's adjust_hue, to float rounding).

    RGB to HSV: value v = max, chroma d = max - min, hue*6 from the channel holding the max;
    back with rgb_c = v - d * clamp(min(k_c, 4 - k_c), 0, 1), k_c = (offset_c + hue*6) mod 6.
    One conditional wrap is exact for shifts under a third of a turn (ColorJitter's are <= 0.1).
    """
    r, g, b = x.unbind(1)
    v = x.amax(dim=1)
    d = v - x.amin(dim=1)
    # Which channel holds the max (R first, then G, as torchvision breaks ties), as 0/1 floats.
    is_r = _at_least(r, v)
    is_g = _at_least(g, v).sub_(is_r).clamp_(min=0.0)
    # d * hue*6: (g - b) where R is the max, 2d + b - r where G is, 4d + r - g where B is.
    h6 = (r - g).add_(d, alpha=4.0)
    from_r = (g - b).sub_(h6)
    from_g = (b - r).add_(d, alpha=2.0).sub_(h6)
    h6.addcmul_(is_r, from_r).addcmul_(is_g, from_g)
    h6.div_(d.clamp_min(1e-12))  # grey pixels (d = 0) keep v below, whatever h
    h6.add_(6.0 * shift.view(-1, 1, 1))  # in [-1 - 6|s|, 5 + 6|s|)
    # k_c: values of 6 and more wrap around; negative ones (B's, down to -6|s|) need not: their
    # weight below is 0, as that of k + 6 (in [4, 6)) would be.
    k = h6.unsqueeze(1) + _channels(_HUE_OFFSETS, x)
    k.sub_(_at_least(k, 6.0), alpha=6.0)
    w = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return torch.addcmul(v.unsqueeze(1), d.unsqueeze(1), w, value=-1.0, out=x)


def blur_radius(kernel_size: int, sigma: float) -> int:
    """Taps either side of the centre: torchvision's kernel less the tail beyond 3 sigma (0.27%
    of the weight). On photos that moves pixels by at most 0.3 of an 8-bit level (0.01 on
    average), less than the rounding to 8 bits the PIL pipeline did after every operation, and
    saves a quarter of the blur's work."""
    return max(1, min(kernel_size // 2, math.ceil(3.0 * sigma)))


def _reflect_pad(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Reflect-pad one spatial dimension (``F.pad``'s reflect mode is ~10x slower on CPU)."""
    size = x.shape[dim]
    head = x.narrow(dim, 1, radius).flip(dim)
    tail = x.narrow(dim, size - radius - 1, radius).flip(dim)
    return torch.cat([head, x, tail], dim=dim)


def _gaussian_taps(sigmas: Sequence[float], radius: int) -> list[list[float]]:
    """torchvision's kernel weights for each sigma, truncated at ``radius`` and renormalised."""
    kernels = []
    for sigma in sigmas:
        pdf = [math.exp(-0.5 * (t / sigma) ** 2) for t in range(-radius, radius + 1)]
        total = sum(pdf)
        kernels.append([p / total for p in pdf])
    return kernels


def gaussian_blur(x: torch.Tensor, sigmas: Sequence[float], radius: int) -> torch.Tensor:
    """GaussianBlur with one sigma per sample, truncated at ``radius`` (see :func:`blur_radius`):
    separable, reflected borders, as shifted multiply-adds (on CPU several times cheaper than a
    grouped convolution)."""
    n, _, height, width = x.shape
    radius = min(radius, height - 1, width - 1)
    if radius < 1:
        return x
    kernels = _gaussian_taps(sigmas, radius)
    size = 2 * radius + 1
    if n == 1:  # scalar weights: the cheapest form of every multiply-add
        weights: list[Any] = kernels[0]
    else:
        table = torch.tensor(kernels, dtype=x.dtype).to(x.device, non_blocking=True)
        weights = [table[:, t].view(n, 1, 1, 1) for t in range(size)]

    def accumulate(out: torch.Tensor, source: torch.Tensor, dim: int, length: int) -> None:
        for t in range(1, size):
            if n == 1:
                out.add_(source.narrow(dim, t, length), alpha=weights[t])
            else:
                out.addcmul_(source.narrow(dim, t, length), weights[t])

    padded = _reflect_pad(x, radius, 3)
    rows = padded[..., 0:width] * weights[0]
    accumulate(rows, padded, 3, width)
    padded = _reflect_pad(rows, radius, 2)
    torch.mul(padded[..., 0:height, :], weights[0], out=x)
    accumulate(x, padded, 2, height)
    return x


def solarize(x: torch.Tensor) -> torch.Tensor:
    """Invert values at or above the threshold: x + [x >= t] * (1 - 2x)."""
    above = _at_least(x, SOLARIZE_THRESHOLD)
    return x.add_(above.mul_(x.mul(-2.0).add_(1.0)))


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    scale = _channels([1.0 / s for s in std], x)
    shift = _channels([-m / s for m, s in zip(mean, std, strict=True)], x)
    return x.mul_(scale).add_(shift)

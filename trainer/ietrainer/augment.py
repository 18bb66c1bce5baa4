"""MoCo v3's two-view augmentation as batched tensor operations on the training device.

Input: a batch of decoded uint8 images ([3, h, w], any sizes) on the device that should do the
work; output: two normalised float views [n, 3, size, size]. The per-sample parameters come from
:mod:`augment_params` (a function of seed, step and view only), so the GPU and the CPU apply the
same crops, flips and factors. On a GPU the batch is processed as a whole; on CPU in chunks of
about 64k pixels, which keeps the working set in cache (one image at 224 px, a whole batch at 32).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from . import augment_ops as ops
from .augment_params import (
    BRIGHTNESS,
    CONTRAST,
    HUE,
    SATURATION,
    ViewParams,
    ViewRecipe,
    draw_view,
    generator_for,
)

CPU_CHUNK_PIXELS = 1 << 16

_JITTER_OPS: dict[int, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    BRIGHTNESS: ops.adjust_brightness,
    CONTRAST: ops.adjust_contrast,
    SATURATION: ops.adjust_saturation,
    HUE: ops.adjust_hue,
}


@dataclass
class _Step:
    """One operation on a subset of a chunk: rows ``idx`` (chunk-relative), values ``vals``."""

    op: str
    jitter_op: int
    members: list[int]
    values: list[float]


@dataclass
class _ViewLists:
    """ViewParams as Python lists: cheap to read per sample in the planning loops."""

    boxes: list[tuple[int, int, int, int]]
    flip: list[bool]
    jitter: list[bool]
    factors: list[list[float]]
    order: list[list[int]]
    gray: list[bool]
    blur: list[bool]
    sigma: list[float]
    solarize: list[bool]

    @staticmethod
    def of(p: ViewParams) -> _ViewLists:
        boxes = list(
            zip(p.top.tolist(), p.left.tolist(), p.height.tolist(), p.width.tolist(), strict=True)
        )
        return _ViewLists(
            boxes,
            p.flip.tolist(),
            p.jitter.tolist(),
            p.factors.tolist(),
            p.order.tolist(),
            p.gray.tolist(),
            p.blur.tolist(),
            p.sigma.tolist(),
            p.solarize.tolist(),
        )


def _plan(p: _ViewLists, lo: int, hi: int) -> list[_Step]:
    """The chunk's operations in recipe order: jitter (per-sample order), grey, blur, solarize."""
    slots: list[dict[int, tuple[list[int], list[float]]]] = [{} for _ in range(4)]
    for k in range(lo, hi):
        if not p.jitter[k]:
            continue
        for slot, op in enumerate(p.order[k]):
            members, values = slots[slot].setdefault(op, ([], []))
            members.append(k - lo)
            values.append(p.factors[k][op])
    steps = [
        _Step("jitter", op, members, values)
        for slot in slots
        for op, (members, values) in sorted(slot.items())
    ]
    gray = [k - lo for k in range(lo, hi) if p.gray[k]]
    blur = [k - lo for k in range(lo, hi) if p.blur[k]]
    solarize = [k - lo for k in range(lo, hi) if p.solarize[k]]
    steps.append(_Step("gray", -1, gray, [0.0] * len(gray)))
    steps.append(_Step("blur", -1, blur, [p.sigma[k + lo] for k in blur]))
    steps.append(_Step("solarize", -1, solarize, [0.0] * len(solarize)))
    return [s for s in steps if s.members]


class TwoViewAugment:
    """Callable ``(images, step) -> (view1, view2)``; see the module docstring."""

    def __init__(
        self,
        size: int,
        mean: Sequence[float],
        std: Sequence[float],
        recipes: tuple[ViewRecipe, ViewRecipe],
        seed: int,
        chunk_pixels: int = CPU_CHUNK_PIXELS,
    ) -> None:
        self.size = size
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.recipes = recipes
        self.seed = seed
        self.chunk_pixels = chunk_pixels
        # torchvision's GaussianBlur kernel for this size: ~10% of the image, odd.
        self.blur_kernel = max(3, (size // 10) | 1)

    def params(self, sizes: torch.Tensor, step: int) -> list[ViewParams]:
        """Both views' parameters for images of ``sizes`` ([n, 2] heights, widths) at ``step``."""
        return [
            draw_view(recipe, sizes, generator_for(self.seed, step, view))
            for view, recipe in enumerate(self.recipes)
        ]

    def __call__(
        self,
        images: Sequence[torch.Tensor],
        step: int,
        out: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both views; written into ``out`` when given (two [n, 3, size, size] float32 tensors
        on the images' device), which spares a CPU the page faults of fresh batch memory."""
        if not images:
            raise ValueError("cannot augment an empty batch")
        sizes = torch.tensor([[int(im.shape[-2]), int(im.shape[-1])] for im in images])
        p1, p2 = self.params(sizes, step)
        o1, o2 = out if out is not None else (None, None)
        return self.apply(images, p1, o1), self.apply(images, p2, o2)

    def apply(
        self, images: Sequence[torch.Tensor], params: ViewParams, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One view of every image, normalised, [n, 3, size, size] float32 on their device."""
        device = images[0].device
        n, size = len(images), self.size
        p = _ViewLists.of(params)
        if out is None:
            out = torch.empty(n, 3, size, size, device=device)
        elif out.shape != (n, 3, size, size) or out.device != device:
            raise ValueError(f"out must be [{n}, 3, {size}, {size}] on {device}")
        chunk = n if device.type != "cpu" else max(1, self.chunk_pixels // (size * size))
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            x = out[lo:hi]
            ops.crop_resize(images[lo:hi], p.boxes[lo:hi], p.flip[lo:hi], size, x)
            self._run(x, _plan(p, lo, hi))
            ops.normalize(x, self.mean, self.std)
        return out

    def _run(self, x: torch.Tensor, steps: list[_Step]) -> None:
        if not steps:
            return
        n = x.shape[0]
        # Every subset's rows and values reach the device in one transfer each.
        idx = torch.tensor([k for s in steps for k in s.members], dtype=torch.int64)
        vals = torch.tensor([v for s in steps for v in s.values], dtype=torch.float32)
        if x.device.type != "cpu":
            idx = idx.pin_memory().to(x.device, non_blocking=True)
            vals = vals.pin_memory().to(x.device, non_blocking=True)
        start = 0
        for s in steps:
            count = len(s.members)
            rows, values = idx[start : start + count], vals[start : start + count]
            start += count
            whole = count == n
            y = x if whole else x.index_select(0, rows)
            if s.op == "jitter":
                _JITTER_OPS[s.jitter_op](y, values)
            elif s.op == "gray":
                ops.to_grayscale(y)
            elif s.op == "blur":
                ops.gaussian_blur(y, s.values, ops.blur_radius(self.blur_kernel, max(s.values)))
            else:
                ops.solarize(y)
            if not whole:
                x.index_copy_(0, rows, y)

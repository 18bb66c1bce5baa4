"""Images to uint8 tensors [3, h, w]: PIL on CPU, or nvJPEG on the GPU where torchvision has it.

Every image is bounded to ``max_side`` pixels on its longer side (twice the training size): crops
keep enough resolution, and a batch's memory has a known ceiling. Batches travel between processes
and to the GPU as one packed buffer (one shared-memory segment, one host-to-device copy).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as nnf
from PIL import Image


def fitted_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(height, width) scaled down so that the longer side is at most ``max_side``."""
    longer = max(height, width)
    if longer <= max_side:
        return height, width
    scale = max_side / longer
    return max(1, round(height * scale)), max(1, round(width * scale))


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL image to a contiguous uint8 tensor [3, h, w]."""
    array = np.array(img, dtype=np.uint8, copy=True)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def open_fitted(source: str | io.BytesIO, max_side: int) -> Image.Image:
    """Decode to RGB (libjpeg scales by a power of two on the way when the image is much larger),
    then shrink with PIL's antialiased bilinear filter to fit ``max_side``."""
    with Image.open(source) as img:
        img.draft("RGB", (max_side, max_side))
        rgb = img.convert("RGB")
    height, width = fitted_size(rgb.height, rgb.width, max_side)
    if (height, width) != (rgb.height, rgb.width):
        rgb = rgb.resize((width, height), Image.BILINEAR)
    return rgb


def decode_file(path: str, max_side: int) -> torch.Tensor:
    return pil_to_tensor(open_fitted(path, max_side))


@dataclass
class PackedPixels:
    """Decoded images of a batch in one uint8 buffer; ``shapes`` holds each one's (h, w)."""

    data: torch.Tensor
    shapes: torch.Tensor

    @staticmethod
    def pack(images: Sequence[torch.Tensor]) -> PackedPixels:
        shapes = torch.tensor([[int(im.shape[1]), int(im.shape[2])] for im in images])
        return PackedPixels(torch.cat([im.reshape(-1) for im in images]), shapes)

    def unpack(self) -> list[torch.Tensor]:
        out, start = [], 0
        for h, w in self.shapes.tolist():
            out.append(self.data[start : start + 3 * h * w].view(3, h, w))
            start += 3 * h * w
        return out

    @property
    def nbytes(self) -> int:
        return int(self.data.numel())

    def pin_memory(self) -> PackedPixels:
        return PackedPixels(self.data.pin_memory(), self.shapes)

    def to(self, device: torch.device) -> PackedPixels:
        return PackedPixels(self.data.to(device, non_blocking=True), self.shapes)


@dataclass
class PackedBytes:
    """Encoded files of a batch in one uint8 buffer, for decoding on the GPU."""

    data: torch.Tensor
    lengths: list[int]
    indices: list[int]  # dataset indices, to name a file that fails to decode

    @staticmethod
    def pack(blobs: Sequence[bytes], indices: Sequence[int]) -> PackedBytes:
        data = torch.frombuffer(bytearray(b"".join(blobs)), dtype=torch.uint8)
        return PackedBytes(data, [len(b) for b in blobs], list(indices))

    def unpack(self) -> list[torch.Tensor]:
        out, start = [], 0
        for n in self.lengths:
            out.append(self.data[start : start + n])
            start += n
        return out

    @property
    def nbytes(self) -> int:
        return int(self.data.numel())

    def pin_memory(self) -> PackedBytes:
        return PackedBytes(self.data.pin_memory(), self.lengths, self.indices)


def fit_on_device(img: torch.Tensor, max_side: int) -> torch.Tensor:
    """The GPU counterpart of :func:`open_fitted`'s shrink (antialiased bilinear)."""
    height, width = fitted_size(int(img.shape[1]), int(img.shape[2]), max_side)
    if (height, width) == (img.shape[1], img.shape[2]):
        return img
    resized = nnf.interpolate(
        img.unsqueeze(0).float(), size=(height, width), mode="bilinear", antialias=True
    )
    return resized[0].round_().clamp_(0, 255).to(torch.uint8)


class DeviceJpegDecoder:
    """nvJPEG through torchvision.io.decode_jpeg(device=cuda): batched where torchvision takes a
    list (0.19 and later), one image at a time otherwise. Files it cannot decode (not JPEG, CMYK)
    are decoded by PIL and copied over."""

    def __init__(self, device: torch.device, max_side: int) -> None:
        self.device = device
        self.max_side = max_side
        self.batched = _probe_cached(str(device), batched=True)
        if not self.batched and not _probe_cached(str(device), batched=False):
            raise RuntimeError(f"torchvision cannot decode JPEG on {device}")

    @staticmethod
    def available(device: torch.device) -> bool:
        if device.type != "cuda":
            return False
        return _probe_cached(str(device), True) or _probe_cached(str(device), False)

    def __call__(self, packed: PackedBytes) -> list[torch.Tensor | None]:
        """Decoded images; None where neither nvJPEG nor PIL could read the file."""
        from torchvision.io import ImageReadMode, decode_jpeg

        blobs = packed.unpack()
        images: list[torch.Tensor | None] = []
        if self.batched:
            try:
                images = list(decode_jpeg(blobs, mode=ImageReadMode.RGB, device=self.device))
            except RuntimeError:
                images = []  # one bad file fails the whole batch: retry one by one
        if not images:
            for blob in blobs:
                try:
                    images.append(decode_jpeg(blob, mode=ImageReadMode.RGB, device=self.device))
                except RuntimeError:
                    images.append(_decode_on_cpu(blob, self.max_side, self.device))
        return [None if im is None else fit_on_device(im, self.max_side) for im in images]


def _decode_on_cpu(blob: torch.Tensor, max_side: int, device: torch.device) -> torch.Tensor | None:
    try:
        img = open_fitted(io.BytesIO(blob.numpy().tobytes()), max_side)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return pil_to_tensor(img).to(device, non_blocking=True)


def _tiny_jpeg() -> torch.Tensor:
    buf = io.BytesIO()
    Image.new("RGB", (16, 8), (200, 30, 60)).save(buf, format="JPEG")
    return torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)


@functools.cache
def _probe_cached(device: str, batched: bool) -> bool:
    return _probe(torch.device(device), batched)


def _probe(device: torch.device, batched: bool) -> bool:
    try:
        from torchvision.io import ImageReadMode, decode_jpeg

        blob = _tiny_jpeg()
        data = [blob, blob] if batched else blob
        out = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)  # type: ignore[arg-type]
        first = out[0] if batched else out
        return bool(first.shape == (3, 8, 16) and first.device.type == device.type)
    except Exception:  # any failure means: not usable here
        return False

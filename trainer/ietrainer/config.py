"""Training presets and the resolved configuration stored in every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class TrainConfig:
    preset: str
    # Architecture (fixed for the lifetime of a model: restored from checkpoints on resume).
    arch: str
    width: int
    blocks: tuple[int, ...]
    proj_hidden: int
    proj_dim: int
    pred_hidden: int
    image_size: int
    # MoCo v3 uses a 2-layer projector for ResNets (3 for ViTs) and no bias in the predictor.
    proj_layers: int = 2
    pred_bias: bool = False
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # Optimisation.
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 10
    temperature: float = 0.2
    momentum_base: float = 0.99
    steps: int = 200
    checkpoint_every: int = 50
    # Data pipeline.
    workers: int = 0
    in_memory: bool = True
    blur: bool = False
    amp: bool = False
    # Autocast dtype on a GPU ("auto": bfloat16 where supported, else float16 with loss scaling).
    amp_dtype: str = "auto"
    # Where JPEGs are decoded on a GPU host ("auto": nvJPEG where torchvision has it).
    decode: str = "auto"
    # Deterministic kernels (exact resume on a GPU, at some speed).
    deterministic: bool = False
    target_fraction: float = 1.0 / 3.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["blocks"] = list(self.blocks)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        kwargs = {k: v for k, v in data.items() if k in known}
        # Checkpoints written before these fields existed had a 3-layer projector and a biased
        # predictor output; they keep that shape so that runs in progress can continue.
        kwargs.setdefault("proj_layers", 3)
        kwargs.setdefault("pred_bias", True)
        kwargs["blocks"] = tuple(kwargs["blocks"])
        kwargs["mean"] = tuple(kwargs["mean"])
        kwargs["std"] = tuple(kwargs["std"])
        return TrainConfig(**kwargs)


# Fields that define the network; a resumed or initialised run must use the stored values.
ARCH_FIELDS = (
    "arch",
    "width",
    "blocks",
    "proj_hidden",
    "proj_dim",
    "pred_hidden",
    "proj_layers",
    "pred_bias",
)


def preset(name: str) -> TrainConfig:
    """Return the configuration for a named preset.

    cpu-small: ResNet-18 layout at quarter width (16-32-64-128 channels) on 32 px images;
    measured ~280 images/s of pure compute on 2 CPU cores, leaving room for augmentation.
    gpu-r50: torchvision ResNet-50 at 224 px with mixed precision, MoCo v3's ResNet heads (2-layer
    4096-256 projector, 4096 predictor, T = 1), so official MoCo v3 checkpoints load key for key.
    Both use AdamW (MoCo v3's ViT recipe) rather than LARS: it needs no large batch to be stable.
    """
    if name == "cpu-small":
        return TrainConfig(
            preset=name,
            arch="small_resnet",
            width=16,
            blocks=(2, 2, 2, 2),
            proj_hidden=512,
            proj_dim=128,
            pred_hidden=512,
            image_size=32,
            batch_size=128,
            lr=1e-3,
            weight_decay=1e-4,
            warmup_steps=10,
            steps=200,
            checkpoint_every=50,
            workers=0,
            in_memory=True,
            blur=False,
            amp=False,
        )
    if name == "gpu-r50":
        return TrainConfig(
            preset=name,
            arch="resnet50",
            width=64,
            blocks=(3, 4, 6, 3),
            proj_hidden=4096,
            proj_dim=256,
            pred_hidden=4096,
            image_size=224,
            batch_size=128,
            lr=3e-4,
            weight_decay=0.05,
            # MoCo v3's temperature for ResNets (0.2 is its ViT value).
            temperature=1.0,
            warmup_steps=50,
            steps=2000,
            checkpoint_every=250,
            workers=8,
            in_memory=False,
            blur=True,
            amp=True,
        )
    raise ValueError(f"unknown preset {name!r}; expected cpu-small or gpu-r50")


PRESETS = ("cpu-small", "gpu-r50")

"""Backbone encoders and the MLP heads used by MoCo v3."""

from __future__ import annotations

import torch
import torchvision
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18 block)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """ResNet-18-style encoder for small images.

    The stem is a single 3x3 stride-1 convolution without max-pooling (CIFAR style),
    because a 7x7/2 stem plus pooling would discard most of a 32 px image.
    """

    def __init__(self, width: int, blocks: tuple[int, ...]) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        layers: list[nn.Module] = []
        in_ch = width
        for i, n in enumerate(blocks):
            out_ch = width * (2**i)
            for j in range(n):
                layers.append(BasicBlock(in_ch, out_ch, 2 if (i > 0 and j == 0) else 1))
                in_ch = out_ch
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dim = in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.layers(self.stem(x))), 1)


class TorchvisionResNet(nn.Module):
    """torchvision ResNet with the classifier removed: returns pooled features."""

    def __init__(self, arch: str) -> None:
        super().__init__()
        net = getattr(torchvision.models, arch)(weights=None)
        self.dim = int(net.fc.in_features)
        net.fc = nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_backbone(arch: str, width: int, blocks: tuple[int, ...]) -> nn.Module:
    """Create the representation encoder named by a preset."""
    if arch == "small_resnet":
        return SmallResNet(width, blocks)
    if arch in ("resnet18", "resnet34", "resnet50"):
        return TorchvisionResNet(arch)
    raise ValueError(f"unknown backbone architecture: {arch}")


def mlp(
    in_dim: int, hidden: int, out_dim: int, layers: int, last_bn: bool, last_bias: bool = False
) -> nn.Sequential:
    """MoCo v3 MLP: (Linear-BN-ReLU) x (layers-1), then Linear (+ BN without affine)."""
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
        dim = hidden
    # MoCo v3 puts no bias on any layer (its checkpoints load key for key); `last_bias` is for
    # checkpoints of ours that had one on the predictor's output.
    mods.append(nn.Linear(dim, out_dim, bias=last_bias and not last_bn))
    if last_bn:
        # Affine-free BN on the output follows MoCo v3; it stabilises the contrastive targets.
        mods.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*mods)

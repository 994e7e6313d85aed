"""Input embeddings (paper 2.2, docs/DESIGN.md section 2 "Phrase nodes").

One text embedding and one image embedding module are shared by the intra and the inter
encoders: paper 2.2 defines a single model input that both 2.3 encoders read, and only the
shared reading matches the paper's 64.7M parameters (see `ssamt info` and
BENCHMARKS.md, section Model). Dropout is left to each encoder, so the phase-2 inter encoder
keeps its input dropout while the shared (frozen) embeddings run in eval mode.
"""

from __future__ import annotations

import torch
from torch import nn

from ssamt.data.batch import ImageBatch, TextBatch
from ssamt.model.config import ModelConfig

# Segment ids: 0 = word token; 1..3 = phrase types (ssamt.data.batch.PHRASE_TYPE_IDS).
N_SEGMENTS = 4
WORD_SEGMENT = 0


class TextEmbeddings(nn.Module):
    """[C^T, phrases, words] -> (B, 1 + P + L, d), LayerNorm-ed, no dropout.

    Words: token + position + word-segment embedding (BERT-style, paper 2.2).
    Phrase nodes: their phrase-type segment embedding only; their content comes from
    attending to their own words through mask rule 3.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.token = nn.Embedding(config.vocab_size, d, padding_idx=0)
        self.position = nn.Embedding(config.max_tokens, d)
        self.segment = nn.Embedding(N_SEGMENTS, d)
        self.global_node = nn.Parameter(torch.zeros(d))  # C^T
        self.norm = nn.LayerNorm(d)
        self.max_tokens = config.max_tokens
        nn.init.normal_(self.global_node, std=0.02)

    def forward(self, batch: TextBatch) -> torch.Tensor:
        ids, types = batch.token_ids, batch.phrase_types  # (B, L), (B, P)
        n_b, n_l = ids.shape
        if n_l > self.max_tokens:
            raise ValueError(f"{n_l} tokens exceed max_tokens={self.max_tokens}")
        pos = torch.arange(n_l, device=ids.device)
        words = self.token(ids) + self.position(pos)[None] + self.segment.weight[WORD_SEGMENT]
        phrases = self.segment(types)  # (B, P, d); padding rows (type 0) are masked later
        c_t = self.global_node.expand(n_b, 1, -1)  # (B, 1, d)
        return self.norm(torch.cat([c_t, phrases, words], dim=1))  # (B, 1 + P + L, d)


class ImageEmbeddings(nn.Module):
    """[C^I, regions] -> (B, 1 + R, d), LayerNorm-ed, no dropout.

    Regions: Linear(d_region -> d) (paper 2.2), plus Linear(d_box -> d) of the box geometry
    when the config has d_box > 0 and the batch carries boxes.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.region = nn.Linear(config.d_region, d)
        self.box = nn.Linear(config.d_box, d) if config.d_box > 0 else None
        self.global_node = nn.Parameter(torch.zeros(d))  # C^I
        self.norm = nn.LayerNorm(d)
        nn.init.normal_(self.global_node, std=0.02)

    def forward(self, batch: ImageBatch) -> torch.Tensor:
        x = self.region(batch.regions.to(self.region.weight.dtype))  # (B, R, d)
        if self.box is not None:
            if batch.boxes is None:
                raise ValueError("model was built with d_box > 0 but the batch has no boxes")
            x = x + self.box(batch.boxes.to(x.dtype))
        c_i = self.global_node.expand(x.shape[0], 1, -1)  # (B, 1, d)
        return self.norm(torch.cat([c_i, x], dim=1))  # (B, 1 + R, d)

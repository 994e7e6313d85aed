"""The SSAMT model: shared embeddings, two intra encoders (a dual encoder) and the inter
encoder (paper 2.2-2.3), plus the Eq. 5 score.

Parameter groups for the two training phases (paper 3.2):
  intra_parameters(): shared embeddings + intra image + intra text encoders (phase 1);
  inter_parameters(): the inter encoder (phase 2, with the intra part frozen).
The embeddings are shared (see embeddings.py), so they belong to the intra group and are
frozen in phase 2; this keeps a^I, a^T and the intra-sampled negatives fixed in phase 2.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ssamt.data.batch import ImageBatch, TextBatch
from ssamt.errors import ConfigError
from ssamt.model import mask as masks
from ssamt.model.config import ModelConfig
from ssamt.model.embeddings import ImageEmbeddings, TextEmbeddings
from ssamt.model.encoders import Encoder, InterEncoder, set_attention
from ssamt.model.grounding import PhraseGrounding
from ssamt.model.scores import InterOutput, PairScores


def drop_phrases(batch: TextBatch) -> TextBatch:
    """The batch with no phrase nodes (P = 0): Table 3 "mask transformer w/o phrases"."""
    return TextBatch(batch.token_ids, batch.token_mask, batch.phrase_types[:, :0],
                     batch.phrase_mask[:, :0], batch.phrase_spans[:, :0])


class SSAMT(nn.Module):
    """Semantic Structure Aware Multimodal Transformer."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not config.complete:
            raise ConfigError("model config: vocab_size, d_region and d_box come from the data; "
                              "fill them in with ModelConfig.with_data before building")
        self.config = config
        self.text_embed = TextEmbeddings(config)
        self.image_embed = ImageEmbeddings(config)
        self.intra_image = Encoder(config)
        self.intra_text = Encoder(config)
        self.inter_encoder = InterEncoder(config)
        self.grounding = PhraseGrounding(config) if config.grounding else None
        self._intra_frozen = False

    # ----- parameter groups and phase 2 ---------------------------------------------------

    def intra_modules(self) -> list[nn.Module]:
        return [self.text_embed, self.image_embed, self.intra_image, self.intra_text]

    def intra_parameters(self) -> Iterator[nn.Parameter]:
        for module in self.intra_modules():
            yield from module.parameters()

    def inter_parameters(self) -> Iterator[nn.Parameter]:
        yield from self.inter_encoder.parameters()
        if self.grounding is not None:  # phrase grounding is trained with the inter encoder
            yield from self.grounding.parameters()

    def freeze_intra(self) -> None:
        """Phase 2 (paper 3.2): intra part gets no gradient and stays in eval mode."""
        self._intra_frozen = True
        for p in self.intra_parameters():
            p.requires_grad_(False)
        for module in self.intra_modules():
            module.eval()

    def train(self, mode: bool = True) -> SSAMT:
        super().train(mode)
        if self._intra_frozen:  # model.train() must not re-enable dropout in frozen parts
            for module in self.intra_modules():
                module.eval()
        return self

    def set_attention(self, impl: str) -> None:
        """"sdpa" (default) or "naive" attention in every encoder layer."""
        set_attention(self, impl)

    # ----- encoders -----------------------------------------------------------------------

    def _text(self, txt: TextBatch) -> TextBatch:
        return txt if self.config.use_phrases else drop_phrases(txt)

    def encode_images(self, img: ImageBatch) -> torch.Tensor:
        """a^I: (B, d) intra image encoder output at C^I (paper 2.3)."""
        x = self.image_embed(img)  # (B, 1 + R, d)
        return self.intra_image(x, masks.image_mask(img.region_mask))[:, 0]

    def encode_texts(self, txt: TextBatch) -> torch.Tensor:
        """a^T: (B, d) intra text encoder output at C^T; phrase nodes keep mask rule 3."""
        txt = self._text(txt)
        x = self.text_embed(txt)  # (B, 1 + P + L, d)
        m = masks.text_mask(txt.phrase_mask, txt.token_mask, txt.phrase_spans)
        return self.intra_text(x, m)[:, 0]

    def inter(self, img: ImageBatch, txt: TextBatch,
              rows: tuple[torch.Tensor, torch.Tensor] | None = None) -> InterOutput:
        """Inter encoder over B pairs -> InterOutput (paper 2.3). rows: None (pair b is
        (img[b], txt[b])) or (image_rows, text_rows), (B,) long each: pair b is
        (img[image_rows[b]], txt[text_rows[b]]), so what depends on one image or one
        caption alone (its embeddings, the grounding head's maps) runs once per distinct
        image and caption, not once per pair. Same outputs either way."""
        t = self._text(txt)
        image_in, text_in = self.image_embed(img), self.text_embed(t)  # (N, 1 + R | ..., d)
        parts = regions_found = None
        if self.grounding is not None:  # (B, P + L), (B,)
            parts, regions_found = self.grounding(self.text_embed.token(t.token_ids), t,
                                                  image_in[:, 1:], img.region_mask,
                                                  img.boxes, rows)
        region_mask = img.region_mask
        if rows is not None:  # from here on, one row per pair; the raw regions stay behind
            image_in, text_in = image_in[rows[0]], text_in[rows[1]]
            region_mask = region_mask[rows[0]]
            pair_txt = txt.index(rows[1])
            t = pair_txt if t is txt else t.index(rows[1])
            txt = pair_txt
        n_p_full = txt.phrase_mask.shape[1]
        n_p, n_l = t.phrase_mask.shape[1], t.token_mask.shape[1]
        m = masks.inter_mask(t.phrase_mask, t.token_mask, t.phrase_spans, region_mask)
        y = self.inter_encoder.forward_pair(text_in, image_in, m)
        ci = 1 + n_p + n_l  # index of C^I; y is (B, ci + 1 + R, d)
        H_txt, H_txt_mask = y[:, 1:ci], torch.cat([t.phrase_mask, t.token_mask], dim=1)
        if n_p < n_p_full:  # phrases dropped: zero slots keep alignment with PhraseMarks
            H_txt = torch.cat([H_txt.new_zeros(len(txt), n_p_full, H_txt.shape[-1]), H_txt], 1)
            H_txt_mask = torch.cat([txt.phrase_mask.new_zeros(len(txt), n_p_full),
                                    H_txt_mask], 1)
            if parts is not None:
                parts = torch.cat([parts.new_zeros(len(txt), n_p_full), parts], 1)
        H_img, H_img_mask = y[:, ci + 1:], region_mask
        return InterOutput(
            h_img=y[:, ci], h_txt=y[:, 0],
            H_img=H_img * H_img_mask[..., None], H_img_mask=H_img_mask,
            H_txt=H_txt * H_txt_mask[..., None], H_txt_mask=H_txt_mask, parts=parts,
            phrase_types=txt.phrase_types, regions_found=regions_found,
        )

    # ----- scores -----------------------------------------------------------------------

    def score(self, img: ImageBatch, txt: TextBatch) -> PairScores:
        """Every score of the B pairs (img[b], txt[b]): both encoders run on them; weigh
        with .eq5(mu1, mu2). The plain reference for the batched scoring of
        ssamt.retrieval.pair_scores, which encodes each image and caption once."""
        return PairScores.of(self.encode_images(img), self.encode_texts(txt), self.inter(img, txt))

    def num_parameters(self) -> dict[str, int]:
        """Parameter counts per part (for `ssamt info`)."""
        def count(*mods: nn.Module) -> int:
            return sum(p.numel() for m in mods for p in m.parameters())
        return {
            "embeddings": count(self.text_embed, self.image_embed),
            "intra image encoder": count(self.intra_image),
            "intra text encoder": count(self.intra_text),
            "inter encoder": count(self.inter_encoder),
            **({} if self.grounding is None else {"phrase grounding": count(self.grounding)}),
            "total": count(self),
        }

"""Explain a search result: the phrase-to-image scores of one image and one caption of an
index (ssamt.pipelines.explain, paper Figure 3), with the caption parses stored in the index, so no
parser is needed unless the caption is the user's own text."""

from __future__ import annotations

from typing import Any

from ssamt.errors import SsamtError
from ssamt.labels.matching import build_image_labels
from ssamt.pipelines.explain import explain_pair


def explain_hit(searcher: Any, image_id: str | int, *, text: str | None = None,
                caption: int | None = None) -> tuple[Any, int, bool | None]:
    """(Explanation, image index, whether the caption is one of the image's own) of image
    `image_id` and either a text of one's own or caption line `caption` of the gallery.
    The image's other captions are the verdict's reference and give L_i (labels)."""
    if (text is None) == (caption is None):
        raise SsamtError("explain needs either a text or a caption index, not both")
    i = searcher.resolve_image(image_id)
    split = searcher.split
    if caption is not None and not 0 <= caption < split.num_captions:
        raise SsamtError(f"unknown caption {caption}: the gallery has captions "
                         f"0..{split.num_captions - 1}")
    per = split.captions_per_image
    own = list(range(i * per, (i + 1) * per))
    own_graphs = searcher.caption_graphs(own)
    if caption is None:
        graph = searcher.parse_query(text)
    else:
        graph = own_graphs[own.index(caption)] if caption in own else \
            searcher.caption_graphs([caption])[0]
    reference = [g for line, g in zip(own, own_graphs) if line != caption and g.text != graph.text]
    expl = explain_pair(searcher.run, searcher.image_table.batch([i]), graph,
                        build_image_labels(own_graphs), reference, mu1=searcher.mu1,
                        mu2=searcher.mu2, part_levels=searcher.part_levels())
    return expl, i, None if caption is None else caption in own

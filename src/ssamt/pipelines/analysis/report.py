"""The paper's reference numbers (Tables 3-5), markdown tables and PNG plots of the analyses."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ssamt.fileio import atomic_open

RECALLS = ("i2t_R@1", "i2t_R@5", "i2t_R@10", "t2i_R@1", "t2i_R@5", "t2i_R@10")

# Table 3 (MS-COCO 1K): i2t R@1/5/10, t2i R@1/5/10.
PAPER_TABLE3: dict[tuple[str, str], tuple[float, ...]] = {
    ("no-phrases", "gm"): (73.9, 93.7, 97.5, 57.7, 87.0, 94.1),
    ("no-phrases", "lm"): (75.5, 94.3, 97.7, 59.8, 87.9, 94.5),
    ("no-phrases", "pm"): (76.3, 94.7, 98.0, 61.2, 88.8, 94.8),
    ("phrases", "gm"): (74.5, 94.1, 97.3, 58.2, 87.7, 94.4),
    ("phrases", "lm"): (76.8, 95.0, 97.9, 61.4, 88.7, 94.6),
    ("phrases", "pm"): (78.2, 95.6, 98.0, 62.7, 89.6, 95.3),
}
# Table 4 (MS-COCO test): accuracy (%) with PM (SSAMT) and without (SSAMT w/o PM).
PAPER_TABLE4: dict[str, tuple[float, float]] = {
    "global (i2t)": (76.9, 75.2), "global (t2i)": (83.9, 82.6),
    "local (i2t)": (77.2, 75.4), "local (t2i)": (84.2, 82.6),
    "phrase (i2t)": (97.1, 30.0), "phrase (t2i)": (97.2, 28.4),
}
# Table 5 (Flickr30K test RSum); the 50% cells of two rows are not legible in our copy.
PAPER_TABLE5: dict[str, dict[float, float]] = {
    "gm": {1.0: 483.3, 0.75: 462.4, 0.5: 437.7, 0.25: 372.5},
    "lm": {1.0: 485.1, 0.75: 464.6, 0.25: 373.4},
    "pm": {1.0: 488.7, 0.75: 471.2, 0.25: 383.8},
}
ABLATION_NAMES = {"gm": "MT+GM", "lm": "+LM", "pm": "+PM"}
FRACTION_NAMES = {"gm": "SSAMT w/o PM&LM", "lm": "SSAMT w/o PM", "pm": "SSAMT"}
GROUP_NAMES = {"no-phrases": "mask transformer w/o phrases",
               "phrases": "mask transformer w/ phrases"}


def fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table; the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "|---|" + "|".join("---:" for _ in header[1:]) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def recall_cells(m: dict[str, float]) -> list[str]:
    return [fmt(m[k]) for k in RECALLS] + [fmt(m["rsum"])]


def save_figure(fig, path: Path) -> Path:
    """fig as a PNG written atomically; the figure is closed."""
    import matplotlib.pyplot as plt  # heavy import, only when plotting

    with atomic_open(path, "wb", encoding=None) as handle:
        fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def pyplot():
    import matplotlib  # heavy import, only when plotting

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # heavy import, only when plotting

    return plt


def bar_plot(path: Path, groups: Sequence[str], series: dict[str, Sequence[float]],
             ylabel: str, title: str) -> Path:
    """Grouped bars: one group per entry of `groups`, one bar per series."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(groups) * max(1, len(series)) / 2), 3.6))
    width = 0.8 / max(1, len(series))
    for s, (name, values) in enumerate(series.items()):
        xs = [g + (s - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, [0.0 if math.isnan(v) else v for v in values], width, label=name)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8, rotation=15)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def line_plot(path: Path, xs: Sequence[float], series: dict[str, Sequence[float]],
              xlabel: str, ylabel: str, title: str) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, values in series.items():
        ax.plot(xs, values, marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save_figure(fig, path)

"""Run summaries: console lines, the Table 1 style R@K table, training curves (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssamt.fileio import atomic_open

METRICS = ("i2t_R@1", "i2t_R@5", "i2t_R@10", "t2i_R@1", "t2i_R@5", "t2i_R@10", "rsum")


def summary_lines(result: dict[str, Any], run_dir: str | Path) -> list[str]:
    """One line per phase: updates, time, last train loss, last dev RSum."""
    lines = []
    for phase in ("phase1", "phase2"):
        if phase not in result:
            continue
        r = result[phase]
        loss = r["train"].get("loss", float("nan"))
        line = (f"phase {phase[-1]}: {r['state']['step']} updates in {r['seconds']:.0f} s, "
                f"last epoch loss {loss:.4f}")
        if r.get("eval"):
            line += f", dev RSum {r['eval'].get('rsum', float('nan')):.1f}"
            if "intra_rsum" in r["eval"]:
                line += f" (intra only {r['eval']['intra_rsum']:.1f})"
        lines.append(line)
    if not lines:
        lines.append("nothing to do: the run had already finished")
    lines.append(f"checkpoints and metrics in {run_dir}")
    return lines


def recall_table(rows: dict[str, dict[str, float]]) -> str:
    """Markdown table in the paper's Table 1 layout: image-to-text R@1/5/10, text-to-image
    R@1/5/10, RSum, one row per method."""
    head = ("| Method | i2t R@1 | i2t R@5 | i2t R@10 | t2i R@1 | t2i R@5 | t2i R@10 | RSum |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|")
    body = [f"| {name} | " + " | ".join(f"{m[k]:.1f}" for k in METRICS) + " |"
            for name, m in rows.items()]
    return "\n".join([head, *body])


def _mark_phase2(ax, margins: dict[str, float], events: dict[str, int]) -> None:
    levels: dict[float, list[str]] = {}
    for label, level in margins.items():
        levels.setdefault(round(level, 6), []).append(label)
    for level, labels in levels.items():
        ax.axhline(level, color="grey", linewidth=0.8, linestyle="--")
        ax.annotate(" = ".join(labels), (0, level), fontsize=7, color="grey", va="bottom")
    for label, step in events.items():
        ax.axvline(step, color="grey", linewidth=0.8, linestyle=":")
        ax.annotate(label, (step, ax.get_ylim()[1]), fontsize=7, color="grey", va="top",
                    ha="left", rotation=90)


def phase2_losses(records: list[dict[str, Any]], tail: float = 0.1) -> dict[str, float]:
    """Mean of each phase-2 loss term over the last `tail` share of its logged updates: what
    the curves end at (L1 and L2 sit at 2 alpha while the inter encoder learns nothing)."""
    train = [r for r in records if r["kind"] == "train" and r["phase"] == "phase2"]
    last = train[-max(1, round(tail * len(train))):] if train else []
    keys = ("L1", "L1_sG", "L2", "L3")
    return {k: sum(r[k] for r in last) / len(last) for k in keys if last and all(k in r for r in last)}


def plot_curves(records: list[dict[str, Any]], path: str | Path,
                margins: dict[str, float] | None = None,
                events: dict[str, int] | None = None) -> Path | None:
    """Training loss per phase and dev RSum against updates, as a PNG (matplotlib Agg).
    margins: labelled levels drawn across the phase-2 panel (e.g. "2·alpha1": 0.2; labels of
    one level are joined); events: labelled phase-2 updates marked by a vertical line."""
    try:
        import matplotlib  # heavy import, only when plotting

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # heavy import, only when plotting
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, phase in zip(axes[:2], ("phase1", "phase2")):
        train = [r for r in records if r["kind"] == "train" and r["phase"] == phase]
        for key in ("loss", "L0", "L1", "L1_sG", "L2", "L3"):
            pts = [(r["step"], r[key]) for r in train if isinstance(r.get(key), (int, float))]
            if pts and (key != "loss" or phase == "phase2"):
                ax.plot(*zip(*pts), label=key, linestyle=":" if key == "L1_sG" else "-")
        if phase == "phase2":
            _mark_phase2(ax, margins or {}, events or {})
        ax.set_title(f"phase {'1 (intra)' if phase == 'phase1' else '2 (inter)'}: train loss")
        ax.set_xlabel("update")
        ax.legend(fontsize=8)
    offset = max((r["step"] for r in records if r["phase"] == "phase1"), default=0)
    for phase, key, label in (("phase1", "rsum", "phase 1 intra"),
                              ("phase2", "rsum", "phase 2 re-ranked"),
                              ("phase2", "intra_rsum", "phase 2 intra only")):
        ev = [r for r in records if r["kind"] == "eval" and r["phase"] == phase and key in r]
        shift = offset if phase == "phase2" else 0
        if ev:
            axes[2].plot([r["step"] + shift for r in ev], [r[key] for r in ev], "o-", label=label)
    axes[2].set_title("dev RSum")
    axes[2].set_xlabel("update (both phases)")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_open(path, "wb", encoding=None) as handle:  # as every output (ssamt.fileio)
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)
    return path

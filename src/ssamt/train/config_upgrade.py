"""Stored configs in today's keys: a checkpoint or run folder written by an earlier release
holds keys of switches that were removed or renamed since; they are dropped or renamed when
it is read (TrainConfig.from_checkpoint), never accepted from a config file or `--set`."""

from __future__ import annotations

from typing import Any

# Keys of checkpoints written before recipes, dropped when one is read (never accepted from
# a config file or --set: there they are unknown keys).
_RETIRED = {"model": ("grounding",),
            "loss": ("l1_with_intra", "l3_within_type", "l3_reference", "l3_words",
                     "l3_predicate_words", "edited_negatives", "near_miss_share", "lambda_role"),
            "eval": ("select_mu",)}
_RENAMED = {("loss", "hard_negatives_from"): "random_partner_share"}


# Keys every stored config may hold that no code read, dropped whatever its age.
_UNREAD = {"phase2": ("mean_negatives_epochs",)}


def upgrade_stored_config(data: dict[str, Any]) -> dict[str, Any]:
    """A stored train config (a checkpoint's, a run folder's config.yaml) in today's keys
    (TrainConfig.from_checkpoint)."""
    if not isinstance(data, dict):
        return data
    out = {key: dict(value) if isinstance(value, dict) else value for key, value in data.items()}
    _drop(out, _UNREAD)
    if "recipe" in data:
        return out
    out["recipe"] = "ssamt"
    _drop(out, _RETIRED)
    for (section, old), new in _RENAMED.items():
        if old in out.get(section, {}):
            out[section][new] = out[section].pop(old)
    return out


def _drop(data: dict[str, Any], keys: dict[str, tuple[str, ...]]) -> None:
    for section, names in keys.items():
        for name in names:
            if isinstance(data.get(section), dict):
                data[section].pop(name, None)

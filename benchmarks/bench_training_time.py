"""Full training time on one device, from measured updates: seconds per update of phase 1
and of each preset's phase 2, the share of an update the device is busy, peak device
memory, and from those the time of every preset's whole schedule.

    python benchmarks/bench_training_time.py --data DIR --device cuda \
        [--phase1 paper-coco] [--phase2 paper-coco ssamt-coco] [--steps1 30] [--steps2 20] \
        [--profile 5] [--set KEY=VALUE ...] [--evaluate coco5k --rerank-k 128 --bf16] \
        [--json OUT]

DIR is a precomp folder with a train split and its label cache (for COCO's size made by
benchmarks/tile_split.py; a testall split too for --evaluate). Phase 1 is trained once,
with --phase1's config: every preset's phase 1 is the same computation (the presets differ
there only in the learning rate and the clipping norm). Each --phase2 preset then trains
phase 2 from that phase1.pt, with the keys a phase-2 run may change (recipe, phase2.*,
loss.*, eval.*) set to that preset's values. Each training runs the real `ssamt train`
(the data loaded as it loads it, the intra-encoder pool built over the whole training
split), with no dev evaluation, every update logged; the figure is the median `update_s`
after the first two updates, leaving out the profiled ones. The busy share: --profile
updates, from the third on, under torch.profiler (device activity only), their kernels'
summed time against as many updates at that median (the profiler slows the host).
`--set` applies to phase 1 (any key) and, for the keys a phase-2 run may change, to every
phase 2: a dry run on a CPU shrinks the model and the budgets with it.

Full-schedule time = max_steps x seconds per update, per phase, with the phase-2 pool's
build added; the dev evaluations (eval.every_epochs) and Eq. 5's choice of weights are
left out. A preset of the same recipe with another accum_steps (Flickr30K's 4 against
COCO's 16, the same micro-batch) is scaled per micro-batch (--scale PRESET=FROM).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from profile_phase2 import device_time

from ssamt.cli import main as ssamt_main
from ssamt.commands import train as train_command
from ssamt.commands.train import PHASE2_KEYS
from ssamt.train import engine
from ssamt.train.config import load_config
from ssamt.train.config_reference import flatten_config
from ssamt.train.data import SplitData
from ssamt.train.logging import read_metrics
from ssamt.train.recipes import paper as paper_recipe
from ssamt.train.recipes import ssamt as ssamt_recipe


def phase2_overrides(phase1_preset: str, preset: str) -> list[str]:
    """--set lines that turn phase1_preset's phase-2 keys into preset's (PHASE2_KEYS)."""
    base, want = (flatten_config(load_config(name).to_dict()) for name in (phase1_preset, preset))
    return [f"{key}={json.dumps(value)}" for key, value in want.items()
            if key.startswith(PHASE2_KEYS) and base.get(key) != value and key != "name"]


class Probe:
    """Hooks into one training: counts updates, profiles updates [first, first + n) on the
    device, times the phase-2 pool, records where the training images went (SplitData's
    on_device) and the device's peak memory."""

    def __init__(self, device: str, first: int, n: int) -> None:
        self.cuda = device.startswith("cuda")
        self.first, self.n = first, n
        self.updates, self.profiler, self.busy_s = 0, None, None
        self.pool_s, self.images_on = 0.0, "host"

    def after_update(self) -> None:
        self.updates += 1
        if not self.cuda or self.n <= 0:
            return
        if self.updates == self.first - 1:
            torch.cuda.synchronize()
            self.profiler = torch.profiler.profile(
                activities=[torch.profiler.ProfilerActivity.CUDA])
            self.profiler.__enter__()
        elif self.updates == self.first - 1 + self.n and self.profiler is not None:
            torch.cuda.synchronize()
            self.profiler.__exit__(None, None, None)
            events = self.profiler.key_averages()
            self.busy_s = sum(device_time(e) for e in events) / 1e6
            self.profiler = None

    def install(self) -> list[tuple[Any, str, Any]]:
        """Patch the hooks in; returns what to restore."""
        saved = [(engine, "_update", engine._update), (SplitData, "on_device", SplitData.on_device),
                 (paper_recipe, "intra_pool", paper_recipe.intra_pool),
                 (ssamt_recipe, "intra_pool", ssamt_recipe.intra_pool),
                 (train_command, "_store_part_levels", train_command._store_part_levels)]
        update, on_device, pool = engine._update, SplitData.on_device, paper_recipe.intra_pool

        def _update(*args, **kwargs):
            norm = update(*args, **kwargs)
            self.after_update()
            return norm

        def _on_device(data, *args, **kwargs):
            moved = on_device(data, *args, **kwargs)
            if moved.images is not data.images:
                self.images_on = "device"
            return moved

        def _pool(*args, **kwargs):
            t0 = time.perf_counter()
            out = pool(*args, **kwargs)
            self.pool_s += time.perf_counter() - t0
            return out

        engine._update, SplitData.on_device = _update, _on_device
        paper_recipe.intra_pool = ssamt_recipe.intra_pool = _pool
        train_command._store_part_levels = lambda *a, **k: None  # explain's levels: not timed
        if self.cuda:  # the peak of this training alone: what an earlier one left goes first
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        return saved


def train(name: str, phase: str, args_list: list[str], out: Path, device: str,
          profile: int) -> dict[str, Any]:
    """One `ssamt train` under a Probe; -> the row of the table."""
    probe = Probe(device, first=3, n=profile)
    saved = probe.install()
    t0 = time.perf_counter()
    try:
        code = ssamt_main(["train", "--phase", phase, "--out", str(out), "--quiet",
                           "--device", device, *args_list])
    finally:
        for owner, attr, value in saved:
            setattr(owner, attr, value)
    wall = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"ssamt train ({name}, phase {phase}) exited with {code}")
    key = f"phase{phase}"
    logged = [m for m in read_metrics(out) if m.get("phase") == key and "update_s" in m]
    profiled = range(probe.first, probe.first + profile) if probe.busy_s is not None else ()
    seconds = [m["update_s"] for m in logged if m["step"] > 2 and m["step"] not in profiled]
    if not seconds:
        raise SystemExit(f"{name}: too few updates logged; raise the steps above "
                         f"{2 + len(profiled)}")
    cfg = load_config(str(out / "config.yaml"))
    row = {"preset": name, "phase": phase, "updates": len(logged),
           "accum_steps": getattr(cfg, f"phase{phase}").accum_steps,
           "s_per_update": statistics.median(seconds), "wall_s": wall,
           "pool_s": probe.pool_s, "images": probe.images_on if phase == "2" else "host"}
    if profiled:  # the profiler slows the host: the kernels' time against unprofiled updates
        row["busy"] = probe.busy_s / (len(profiled) * row["s_per_update"])
    if probe.cuda:
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print("measured:", json.dumps(row), flush=True)  # kept if a later step runs out of time
    return row


def schedule_rows(rows: list[dict[str, Any]], scale: dict[str, str]) -> list[dict[str, Any]]:
    """Each preset's whole schedule: phase 1 (the measured one) + its phase 2."""
    p1 = next(r for r in rows if r["phase"] == "1")
    by_name = {r["preset"]: r for r in rows if r["phase"] == "2"}
    out = []
    for name in [*by_name, *scale]:
        cfg = load_config(name)
        if name in by_name:
            s2, how = by_name[name]["s_per_update"], "measured"
            pool = by_name[name]["pool_s"]
        else:
            src = by_name[scale[name]]
            per_micro = src["s_per_update"] / src["accum_steps"]
            s2, how, pool = per_micro * cfg.phase2.accum_steps, f"from {scale[name]}", src["pool_s"]
        t1 = cfg.phase1.max_steps * p1["s_per_update"]
        t2 = cfg.phase2.max_steps * s2 + pool
        out.append({"preset": name, "phase1_h": t1 / 3600, "phase2_h": t2 / 3600,
                    "total_h": (t1 + t2) / 3600, "phase2_from": how,
                    "steps": (cfg.phase1.max_steps, cfg.phase2.max_steps)})
    return out


def evaluate(run: Path, data: str, device: str, protocol: str, k: int, bf16: bool,
             batch: int, out: Path) -> dict[str, Any]:
    """One `ssamt evaluate`, in this process (after Python's and torch's start)."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    code = ssamt_main(["evaluate", "--checkpoint", str(run), "--data", data, "--protocol",
                       protocol, "--rerank-k", str(k), "--device", device, "--quiet",
                       "--batch-size", str(batch), "--json", str(out), *(["--bf16"] * bf16)])
    if code != 0:
        raise SystemExit(f"ssamt evaluate exited with {code}")
    row = {"protocol": protocol, "k": k, "bf16": bf16, "seconds": time.perf_counter() - t0}
    if device.startswith("cuda"):
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return row


def print_tables(rows, schedules, evaluation, args) -> None:
    name = (torch.cuda.get_device_name() if args.device.startswith("cuda")
            else f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)")
    print(f"\n{name}, torch {torch.__version__}, {args.data}, {args.steps1} phase-1 / "
          f"{args.steps2} phase-2 updates{''.join(f', {kv}' for kv in args.set)}\n")
    print("| preset | phase | s/update (median) | updates/s | device busy | peak GiB | "
          "features | pool s | wall s |\n|---|---|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        busy = f"{r['busy']:.0%}" if "busy" in r else "n/a"
        peak = f"{r['peak_gib']:.1f}" if "peak_gib" in r else "n/a"
        print(f"| {r['preset']} | {r['phase']} | {r['s_per_update']:.3f} | "
              f"{1 / r['s_per_update']:.2f} | {busy} | {peak} | {r['images']} | "
              f"{r['pool_s']:.1f} | {r['wall_s']:.0f} |")
    print("\n| preset | updates (phase 1, 2) | phase 1 h | phase 2 h | total h | phase 2 |"
          "\n|---|---|---:|---:|---:|---|")
    for s in schedules:
        print(f"| {s['preset']} | {s['steps'][0]:,}, {s['steps'][1]:,} | {s['phase1_h']:.2f} | "
              f"{s['phase2_h']:.2f} | {s['total_h']:.2f} | {s['phase2_from']} |")
    if evaluation:
        peak = f", peak {evaluation['peak_gib']:.1f} GiB" if "peak_gib" in evaluation else ""
        print(f"\nssamt evaluate --protocol {evaluation['protocol']} --rerank-k "
              f"{evaluation['k']}{' --bf16' if evaluation['bf16'] else ''}: "
              f"{evaluation['seconds']:.1f} s in process{peak}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--phase1", default="paper-coco", help="config phase 1 is trained with")
    p.add_argument("--phase2", nargs="+", default=["paper-coco", "ssamt-coco"])
    p.add_argument("--scale", nargs="*", default=["paper-f30k=paper-coco",
                                                  "ssamt-f30k=ssamt-coco"],
                   metavar="PRESET=FROM", help="schedules scaled per micro-batch")
    p.add_argument("--steps1", type=int, default=30)
    p.add_argument("--steps2", type=int, default=20)
    p.add_argument("--profile", type=int, default=5, help="updates profiled (0: none)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--evaluate", default=None, choices=["f30k", "coco1k", "coco5k"])
    p.add_argument("--rerank-k", type=int, default=128)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--keep", type=Path, default=None, help="keep the run folders here")
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def set_args(pairs: list[str]) -> list[str]:
    """["a=1", "b=2"] -> ["--set", "a=1", "--set", "b=2"]."""
    return [arg for kv in pairs for arg in ("--set", kv)]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="ssamt-bench-time-"))
    common = ["--data", args.data, "--set", "eval.every_epochs=0"]
    p1_dir = root / "phase1"
    sets1 = [f"phase1.max_steps={args.steps1}", "phase1.log_every=1", *args.set]
    rows = [train(args.phase1, "1", [*common, "--config", args.phase1, *set_args(sets1)],
                  p1_dir, args.device, args.profile)]
    extra2 = [kv for kv in args.set if kv.startswith(PHASE2_KEYS)]
    for preset in args.phase2:
        out = root / preset
        out.mkdir(parents=True, exist_ok=True)
        for name in ("phase1.pt", "config.yaml"):
            shutil.copy(p1_dir / name, out / name)
        sets = [*phase2_overrides(args.phase1, preset), *extra2,
                f"phase2.max_steps={args.steps2}", "phase2.log_every=1"]
        rows.append(train(preset, "2", [*common, *set_args(sets)], out, args.device,
                          args.profile))
    scale = dict(kv.split("=", 1) for kv in args.scale)
    scale = {k: v for k, v in scale.items() if v in args.phase2 and k not in args.phase2}
    schedules = schedule_rows(rows, scale)
    evaluation = None
    if args.evaluate:
        evaluation = evaluate(root / args.phase2[0], args.data, args.device, args.evaluate,
                              args.rerank_k, args.bf16, args.batch_size, root / "evaluate.json")
    print_tables(rows, schedules, evaluation, args)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "schedules": schedules,
                                         "evaluate": evaluation}, indent=1))
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

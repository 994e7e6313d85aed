"""Median seconds per training update of this checkout, for comparing two checkouts (or two
settings) on one machine.

    python benchmarks/update_seconds.py --run QS/run --data QS/data --phase 2 [--steps 40] \
        [--set KEY=VALUE ...]
    PYTHONPATH=OTHER/src python benchmarks/update_seconds.py ...   # the same for another checkout

RUN is a quick start's run folder (its phase1.pt and config.yaml). Trains `--steps` updates
of phase 1 from scratch or of phase 2 from RUN/phase1.pt (`ssamt train`, no dev evaluation,
every update logged) in a temporary folder and prints the code's path and the median of
the logged `update_s`, leaving out the first two updates (allocator growth, first calls).
Same seed and data, so two checkouts see the same batches. Alternate the checkouts and
repeat on an idle machine: one VM's timings drift by several percent between runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

import ssamt
from ssamt.cli import main as ssamt_main
from ssamt.train.logging import read_metrics


def update_seconds(run: Path, data: str, phase: str, steps: int,
                   overrides: tuple[str, ...] = ()) -> list[float]:
    """The logged seconds of each update of one training of `phase` ("1" or "2"), the first
    two left out."""
    with tempfile.TemporaryDirectory(prefix="ssamt-bench-update-") as tmp:
        args = ["train", "--phase", phase, "--data", data, "--out", tmp, "--quiet",
                "--device", "cpu", "--set", "eval.every_epochs=0",
                "--set", f"phase{phase}.max_steps={steps}", "--set", f"phase{phase}.log_every=1"]
        for item in overrides:
            args += ["--set", item]
        if phase == "1":
            args += ["--config", str(run / "config.yaml")]
        else:
            for name in ("phase1.pt", "config.yaml"):
                shutil.copy(run / name, Path(tmp) / name)
        if ssamt_main(args) != 0:
            raise SystemExit("ssamt train failed")
        return [m["update_s"] for m in read_metrics(tmp) if "update_s" in m][2:]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run folder with phase1.pt and config.yaml")
    p.add_argument("--data", required=True, help="the run's data folder")
    p.add_argument("--phase", choices=["1", "2"], default="2")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    seconds = update_seconds(Path(args.run), args.data, args.phase, args.steps, tuple(args.set))
    print(f"{Path(ssamt.__file__).parents[1]} phase {args.phase}: "
          f"{statistics.median(seconds):.4f} s/update (median of {len(seconds)})", flush=True)


if __name__ == "__main__":
    main()

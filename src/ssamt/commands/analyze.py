"""`ssamt analyze`: the paper's analyses (Tables 3, 4, 5) as report folders.

    ssamt analyze ablation      --data DIR --out OUT          # Table 3: 2 phase-1 + 6 phase-2 runs
    ssamt analyze pm-accuracy   --data DIR --out OUT --train  # Table 4: trains SSAMT and w/o PM
    ssamt analyze pm-accuracy   --data DIR --out OUT --checkpoint RUN [--checkpoint-wo-pm RUN2]
    ssamt analyze data-fraction --data DIR --out OUT [--fractions 1.0 0.75 0.5 0.25]  # Table 5
    ssamt analyze all           --data DIR --out OUT --jobs 8  # all three, 8 trainings at a time
    ssamt analyze minimal-pairs --checkpoint RUN [--checkpoint-wo-pm RUN2] --data DIR --out OUT
    ssamt analyze recipes       --data DIR --out OUT [--seeds 0 1 2]  # the paper's phase 2 and ssamt's
    ssamt analyze compositional --checkpoint RUN --data DIR --split S --pairs FILE... --out OUT

Trainings go to RUNS (default OUT/runs; pass one --runs to several analyses to share runs);
a stopped analysis continues where it stopped when run again.
"""

from __future__ import annotations

import argparse

from ssamt.commands.common import add_labels_cache_argument, apply_labels_cache

HELP = ("the paper's analyses: ablation (Table 3), pm-accuracy (Table 4), data-fraction "
        "(Table 5), or all three; minimal-pairs (binding and roles); recipes (the paper's "
        "phase 2 beside ssamt's); compositional (SugarCrepe, ARO, Winoground)")


def _common(p: argparse.ArgumentParser, trains: bool = True) -> None:
    p.add_argument("--data", required=True, metavar="DIR", help="precomp data folder "
                   "(train, dev, test splits; e.g. from `ssamt synth`)")
    p.add_argument("--out", required=True, metavar="OUT",
                   help="report folder: report.md, results.json, PNG plots")
    p.add_argument("--device", default="auto", help="cpu, cuda (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_labels_cache_argument(p)
    if trains:
        p.add_argument("--test-images", type=int, default=0, metavar="N",
                       help="evaluate each run on the first N test images (default 0: all; "
                            "for smoke runs)")
        p.add_argument("--runs", default=None, metavar="DIR",
                       help="training run folders (default OUT/runs); finished runs are reused")
    p.add_argument("--config", default="synthetic", metavar="PRESET_OR_FILE",
                   help="training config of every run (default: synthetic)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value of every run (repeatable)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    p = sub.add_parser("ablation", help="Table 3: w/o and w/ phrases x MT+GM, +LM, +PM")
    _common(p)
    p = sub.add_parser("pm-accuracy", help="Table 4: accuracy of global, local and phrase "
                       "scores at telling positive from negative pairs, with and without PM")
    _common(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", metavar="RUN", help="SSAMT run folder or checkpoint")
    src.add_argument("--train", action="store_true",
                     help="train SSAMT and SSAMT w/o PM first (shared phase 1)")
    p.add_argument("--checkpoint-wo-pm", metavar="RUN2", default=None,
                   help="the run trained without phrase matching (loss.lambda3=0)")
    p.add_argument("--split", default="test", help="split of the positive pairs (default test)")
    p.add_argument("--seed", type=int, default=0, help="seed of the negative draws (default 0)")
    p.add_argument("--max-pairs", type=int, default=0, metavar="N",
                   help="use N random positive pairs (default 0: all)")
    for name in ("data-fraction", "all"):
        _fraction_parser(sub, name)
    _minimal_parser(sub)
    _compositional_parser(sub)
    p = sub.add_parser("recipes", help="the paper's phase-2 recipe and ssamt's, trained from "
                       "the same phase 1 for each seed: test recall, Table 4, the minimal "
                       "pairs and seconds per update, mean and spread over the seeds")
    _common(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="S",
                   help="training seeds (default 0 1 2): one phase 1 and both recipes each")


def _minimal_parser(sub) -> None:
    p = sub.add_parser("minimal-pairs", help="accuracy on minimal pairs (a true caption or "
                       "image vs one edit of it) per edit type, and whether the model's lowest "
                       "phrase score falls on the edit; needs a synthetic folder's "
                       "*_minimal.jsonl")
    p.add_argument("--checkpoint", required=True, metavar="RUN", help="SSAMT run folder or checkpoint")
    p.add_argument("--checkpoint-wo-pm", metavar="RUN2", default=None,
                   help="the run trained without the phrase-matching loss, reported beside it")
    p.add_argument("--data", required=True, metavar="DIR", help="synthetic data folder")
    p.add_argument("--out", required=True, metavar="OUT",
                   help="report folder: report.md, results.json, minimal-pairs.png")
    p.add_argument("--split", default="test", choices=("dev", "test", "testall"),
                   help="split of the minimal pairs (default test)")
    add_labels_cache_argument(p)
    p.add_argument("--rerank-k", type=int, default=10, metavar="K",
                   help="Eq. 5 re-ranks the top K for the scene-truth recall (default 10)")
    p.add_argument("--images", type=int, default=0, metavar="N",
                   help="only the pairs of the first N images (default 0: all; smoke runs)")
    p.add_argument("--no-part-levels", action="store_true",
                   help="judge each part against its type's mean in the image's own captions, "
                        "not its own level measured on training pairs")
    p.add_argument("--device", default="auto", help="cpu, cuda (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _compositional_parser(sub) -> None:
    p = sub.add_parser("compositional", help="SugarCrepe, ARO (VG-Relation, VG-Attribution) "
                       "and Winoground from their own files: each score's accuracy, a "
                       "text-only baseline, and whether the named part touches the edit")
    p.add_argument("--checkpoint", required=True, metavar="RUN", help="run folder or checkpoint")
    p.add_argument("--data", required=True, metavar="DIR",
                   help="precomp folder holding the benchmark's images as a split (e.g. COCO "
                        "val2017 from `ssamt import-butd`), found by id")
    p.add_argument("--split", default="test", help="split of the images (default test)")
    p.add_argument("--pairs", nargs="+", required=True, metavar="FILE",
                   help="benchmark files as published: SugarCrepe's subset JSONs, ARO's "
                        "visual_genome_relation.json / visual_genome_attribution.json, "
                        "Winoground's examples.jsonl")
    p.add_argument("--out", required=True, metavar="OUT",
                   help="report folder: report.md, results.json, compositional.png")
    p.add_argument("--no-part-levels", action="store_true",
                   help="no localization (it judges parts against their levels on the run's "
                        "training pairs)")
    p.add_argument("--device", default="auto", help="cpu, cuda (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_labels_cache_argument(p)


def _fraction_parser(sub, name: str) -> None:
    if name == "all":
        p = sub.add_parser("all", help="the three analyses, training up to --jobs runs at once "
                           "(reports in OUT/ablation, OUT/pm-accuracy, OUT/data-fraction)")
    else:
        p = sub.add_parser(name, help="Table 5: RSum of w/o PM&LM, w/o PM and SSAMT "
                           "at fractions of the training images")
    _common(p)
    if name == "all":
        p.add_argument("--jobs", type=int, default=1, metavar="N",
                       help="trainings run side by side, one process each (default 1); on a "
                            "GPU box about the number of CPU cores, as these small models are "
                            "bound by batch assembly on the CPU")
        p.add_argument("--seed", type=int, default=0, help="seed of the Table 4 negative draws")
        p.add_argument("--max-pairs", type=int, default=0, metavar="N",
                       help="Table 4 on N random test pairs (default 0: all)")
    p.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.75, 0.5, 0.25],
                   metavar="F", help="fractions of the training images (default 1.0 0.75 0.5 0.25)")
    p.add_argument("--subset-seed", type=int, default=0, help="seed of the image subsets")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ssamt.commands.common import check_ranges, resolve_device, use_free_cpus
    from ssamt.errors import ConfigError
    from ssamt.fileio import check_output
    from ssamt.pipelines.analysis import (
        TrainSetup,
        run_ablation,
        run_data_fraction,
        run_pm_accuracy,
        train_pm_models,
    )
    from ssamt.pipelines.analysis.recipes import run_recipes
    from ssamt.pipelines.analysis.trainings import run_config

    check_ranges(args, {"seed": 0, "subset_seed": 0, "test_images": 0, "max_pairs": 0})
    apply_labels_cache(args)
    out = Path(args.out)
    check_output(out / "report.md")  # before hours of training, not after
    if args.analysis == "minimal-pairs":
        return _run_minimal(args, out, resolve_device(args.device))
    if args.analysis == "compositional":
        return _run_compositional(args, out, resolve_device(args.device))
    runs = Path(args.runs) if getattr(args, "runs", None) else out / "runs"
    setup = TrainSetup(args.data, args.config, tuple(args.overrides), resolve_device(args.device),
                       progress=not args.quiet, test_images=getattr(args, "test_images", 0))
    run_config(setup, True, None)  # range-check the config before any data is read
    use_free_cpus(setup.device)
    if args.analysis in ("data-fraction", "all") and any(not 0.0 < f <= 1.0 for f in args.fractions):
        raise ConfigError("--fractions must lie in (0, 1]")
    if args.analysis == "ablation":
        run_ablation(setup, out, runs)
    elif args.analysis == "data-fraction":
        run_data_fraction(setup, out, runs, sorted(set(args.fractions), reverse=True),
                          args.subset_seed)
    elif args.analysis == "all":
        return _run_all(args, setup, out, runs)
    elif args.analysis == "recipes":
        if any(seed < 0 for seed in args.seeds):
            raise ConfigError("--seeds must be >= 0")
        run_recipes(setup, out, runs, tuple(dict.fromkeys(args.seeds)))
    else:
        if args.max_pairs < 0:
            raise ConfigError("--max-pairs must be >= 0")
        models = train_pm_models(setup, runs) if args.train else {
            "pm": Path(args.checkpoint),
            "lm": Path(args.checkpoint_wo_pm) if args.checkpoint_wo_pm else None}
        run_pm_accuracy(models, setup, out, split=args.split, seed=args.seed,
                        max_pairs=args.max_pairs)
    print(f"report: {out / 'report.md'}")
    return 0


def _run_minimal(args: argparse.Namespace, out, device: str) -> int:
    from pathlib import Path

    from ssamt.errors import ConfigError
    from ssamt.pipelines.analysis.minimal_report import run_minimal_pairs

    if args.rerank_k < 0 or args.images < 0:
        raise ConfigError("--rerank-k and --images must be >= 0")
    models = {"pm": Path(args.checkpoint),
              "lm": Path(args.checkpoint_wo_pm) if args.checkpoint_wo_pm else None}
    run_minimal_pairs(models, args.data, out, split=args.split, rerank_k=args.rerank_k,
                      device=device, max_images=args.images, progress=not args.quiet,
                      part_levels=not args.no_part_levels)
    print(f"report: {out / 'report.md'}")
    return 0


def _run_compositional(args: argparse.Namespace, out, device: str) -> int:
    from ssamt.pipelines.analysis.compositional import run_compositional
    from ssamt.train.trained_run import load_run

    run = load_run(args.checkpoint, device)
    run_compositional(run, args.data, args.split, args.pairs, out, device=device,
                      progress=not args.quiet, part_levels=not args.no_part_levels)
    print(f"report: {out / 'report.md'}")
    return 0


def _run_all(args: argparse.Namespace, setup, out, runs) -> int:
    """Train every run (args.jobs at a time), then write the three reports from them."""
    from ssamt.errors import ConfigError
    from ssamt.pipelines.analysis import (
        run_ablation,
        run_data_fraction,
        run_pm_accuracy,
        train_pm_models,
    )
    from ssamt.pipelines.analysis.parallel import train_all
    from ssamt.pipelines.analysis.trainings import load_training_data

    fractions = sorted(set(args.fractions), reverse=True)
    if args.max_pairs < 0:
        raise ConfigError("--max-pairs must be >= 0")
    if args.jobs < 1:
        raise ConfigError("--jobs must be >= 1")
    if args.jobs > 1:
        train_all(setup, runs, fractions, args.subset_seed, args.jobs)
    data = load_training_data(setup)  # once for the three reports (all runs exist by now)
    run_ablation(setup, out / "ablation", runs, data)
    run_pm_accuracy(train_pm_models(setup, runs, data), setup, out / "pm-accuracy",
                    seed=args.seed, max_pairs=args.max_pairs)
    run_data_fraction(setup, out / "data-fraction", runs, fractions, args.subset_seed, full=data)
    for name in ("ablation", "pm-accuracy", "data-fraction"):
        print(f"report: {out / name / 'report.md'}")
    return 0

"""`ssamt explain`: phrase-to-image scores for one pair (paper 4.3, Figure 3).

    ssamt explain --checkpoint RUN --data DIR --image 3 --caption 17
    ssamt explain --checkpoint RUN --data DIR --image 3 --text "two dogs on a baseball field"

Prints one row per phrase node and word of the caption with its phrase-to-image score (its
best region's cosine with the grounding head, else cos(h^I, H^T_k)), the model's
verdict (ssamt.pipelines.explain: below where the part usually scores against images it
matches, measured on training pairs, minus a margin, or below --threshold), the one part
most likely mismatched, and the label rule's verdict against L_i of the image.
Caption graphs come from the split's label cache when there is one (so a machine without
spaCy can explain a caption index), else only the captions needed are parsed.
"""

from __future__ import annotations

import argparse
import sys

from ssamt.commands.common import (
    EQ5_WEIGHT_FLAGS,
    add_eq5_weight_arguments,
    add_labels_cache_argument,
    apply_labels_cache,
    check_ranges,
    input_files,
    printable,
    resolve_device,
)

HELP = "phrase-to-image scores for one image and caption: which parts the model finds mismatched"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="RUN",
                        help="checkpoint file, or a run folder (its best.pt, else last.pt)")
    parser.add_argument("--data", required=True, metavar="DIR", help="precomp data folder")
    parser.add_argument("--split", default="test", help="split of the image (default test)")
    parser.add_argument("--image", type=int, required=True, metavar="I",
                        help="image index within the split (0-based)")
    caption = parser.add_mutually_exclusive_group(required=True)
    caption.add_argument("--caption", type=int, metavar="J",
                         help="caption index within the split (0-based line of {split}_caps.txt)")
    caption.add_argument("--text", metavar="CAPTION",
                         help="a caption of your own (parsed with spaCy)")
    cut = parser.add_mutually_exclusive_group()
    cut.add_argument("--margin", type=float, default=None,
                     help="flag parts scoring below their reference (where the part usually "
                          "scores against images it matches) minus this (default: per type, "
                          "the margin that 5%% of matched training parts fall below; alpha3 / "
                          "2 without part levels)")
    cut.add_argument("--threshold", type=float, default=None,
                     help="flag parts scoring below this cosine instead")
    parser.add_argument("--no-part-levels", action="store_true",
                        help="judge each part against its type's mean in the image's own "
                             "captions, with margin alpha3 / 2; by default against its own "
                             "level on training pairs with measured margins, cached beside "
                             "the checkpoint (part_levels.json)")
    add_eq5_weight_arguments(parser)
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="also write everything here ('-': stdout, the table then goes "
                             "to stderr)")
    parser.add_argument("--html", default=None, metavar="OUT.html",
                        help="also write a self-contained page: chips coloured by score, "
                             "verdicts, the Eq. 5 terms and the image (paper Figure 3)")
    parser.add_argument("--images-root", default=None, metavar="DIR",
                        help="with --html: folder of the original pictures (COCO, Flickr30K)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto)")
    add_labels_cache_argument(parser)


def _title(args: argparse.Namespace, positive: bool | None) -> list[str]:
    where = f"image {args.image} of {args.data} ({args.split})"
    if args.caption is None:
        return [f"{where}, caption given as text"]
    own = {True: "one of the image's own captions", False: "a caption of another image"}
    return [f"{where}, caption {args.caption} ({own[bool(positive)]})"]


def run(args: argparse.Namespace) -> int:
    from ssamt.data.precomp import open_split
    from ssamt.data.split_files import photos_root
    from ssamt.data.split_labels import caption_graphs
    from ssamt.errors import SsamtError
    from ssamt.fileio import check_outputs, is_stdout, write_json, write_text
    from ssamt.labels.matching import build_image_labels
    from ssamt.labels.parser import parse
    from ssamt.pipelines.explain import (
        check_caption_index,
        explain_pair,
        image_batch,
    )
    from ssamt.pipelines.part_levels import part_levels_for
    from ssamt.render.explain_text import format_explanation
    from ssamt.train.compat import check_data_fits, note_phase1
    from ssamt.train.trained_run import load_run

    if args.text is not None and not args.text.strip():
        raise SsamtError("--text is empty: give a caption with at least one word")
    check_ranges(args, finite=("margin", "threshold"), within=EQ5_WEIGHT_FLAGS)
    # Before any work, never over an input: the split explained, the training split the
    # part levels are measured on, and the folders a picture is read from.
    splits = [args.split] + ([] if args.no_part_levels else ["train"])
    check_outputs({"--json": args.json, "--html": args.html},
                  input_files(args.checkpoint, args.data, splits, args.labels_cache),
                  folders=[args.images_root, photos_root(args.data, args.split)])
    apply_labels_cache(args)
    split = open_split(args.data, args.split)
    image = image_batch(split, args.image)
    if args.caption is not None:
        check_caption_index(split, args.caption)
    pic = _page_picture(args, split)  # a scene or picture that cannot be drawn: before the work
    device = resolve_device(args.device)
    run = load_run(args.checkpoint, device)
    check_data_fits(run.model.config, split, run.path)
    note_phase1(run.phase, run.path, "the phrase scores below come from an untrained "
                                       "encoder")
    k = split.captions_per_image
    own = list(range(args.image * k, (args.image + 1) * k))  # docs/DESIGN.md section 3
    extra = [] if args.caption is None or args.caption in own else [args.caption]
    graphs = caption_graphs(args.data, args.split, own + extra, opened=split,
                            progress=sys.stderr.isatty())
    own_graphs = graphs[:k]
    if args.caption is None:
        graph = parse([args.text])[0]
    else:
        graph = graphs[-1] if extra else own_graphs[own.index(args.caption)]
    # The reference: the image's other captions (never the explained one, ssamt.pipelines.explain).
    ref_lines = [line for line, g in zip(own, own_graphs)
                 if line != args.caption and g.text != graph.text]
    levels = None if args.no_part_levels else part_levels_for(
        run, args.data, device=device, progress=sys.stderr.isatty())
    expl = explain_pair(run, image, graph, build_image_labels(own_graphs),
                        [graphs[own.index(line)] for line in ref_lines], margin=args.margin,
                        threshold=args.threshold, mu1=args.mu1, mu2=args.mu2,
                        part_levels=levels)
    positive = None if args.caption is None else args.caption in own
    print(format_explanation(expl, _title(args, positive)),
          file=sys.stderr if is_stdout(args.json) else sys.stdout)
    if args.json:
        write_json(args.json, {"checkpoint": str(run.path),
                               "data": str(args.data), "split": args.split, "image": args.image,
                               "caption_index": args.caption, "positive_pair": positive,
                               "reference_captions": ref_lines,
                               "device": device, **expl.to_json()})
        if not is_stdout(args.json):
            print(f"wrote {printable(args.json)}")
    if args.html:
        from ssamt.render.page import explanation_page

        write_text(args.html, explanation_page(expl, _title(args, positive), pic))
        print(f"wrote {printable(args.html)}")
    return 0


def _page_picture(args: argparse.Namespace, split):
    """The Picture of the --html page (None without --html)."""
    if not args.html:
        return None
    from ssamt.render.pictures import PAGE_SIDE, picture

    return picture(split, args.image, args.images_root, max_side=PAGE_SIDE)

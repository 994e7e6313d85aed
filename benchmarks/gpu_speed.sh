#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md's Speed section in one short run (a lent GPU, minutes of
# device time).
#
#   bash benchmarks/gpu_speed.sh DATA_DIR OUT_DIR [DEVICE]
#
# DATA_DIR holds one Flickr30K-size synthetic split as `test_*` (the medium set's test split:
# 1,000 images x 5,000 captions, 36 regions x 512 features in float16, with its label cache
# test_labels.jsonl built where spaCy is installed), made on the developer's machine by
#
#   ssamt synth --size medium DIR && ssamt labels DIR --split test
#   mkdir -p .gpubench/data && cp DIR/ssamt-synth.json DIR/test_{ims.npy,boxes.npy,caps.txt,
#       ids.txt,scenes.jsonl,capspecs.jsonl,labels.jsonl} .gpubench/data/
#
# (the medium training split, 1.1 GB, is too big to send and 90 s to generate there). The
# script copies that split to `train_*` so the short trainings that make checkpoints and the
# phase-2 timings have data: speed does not depend on which captions they are, and no figure
# here is a retrieval quality. Every step has its own time limit; the log goes to OUT_DIR/log.
# PARTS picks the steps (default "coco"; the others: "stage2 train eval phase2 profile",
# where eval, phase2 and profile need train).
#
# PARTS=coco (estimated at 7 minutes on an H100-class GPU from the figures of 2026-11-26;
# COCO_LIMIT seconds, default 480, for its last step): the
# training-time table. benchmarks/tile_split.py tiles DATA_DIR's test split into a COCO-size
# train split (113,287 images x 36 regions x 2,048 float16, 16.7 GB, with its label cache)
# and a 5,000-image testall; benchmarks/bench_training_time.py then trains phase 1
# (paper-coco) and phase 2 of paper-coco and ssamt-coco on it, and prints seconds per
# update, the device's busy share, peak memory, where phase 2's features live, the time of
# every preset's whole schedule, and a COCO 5K evaluation (K = 128, bf16) end to end
# (OUT_DIR/training_time.json).
#
# PARTS=compile (not in the default; a few minutes of compilation per preset): eager against
# torch.compile for one batch of each hot loop, paper-f30k (bench_compile.py; DATA_DIR's
# test split doubles as dev).
#
# PARTS=recipes (not in the default; RECIPES_LIMIT seconds, default
# 1200, SEEDS default "0 1 2", RECIPES_SIZE default medium; tiny for a dry run on a CPU)
# runs `ssamt analyze recipes` on the medium synthetic set:
# the set is generated there (`ssamt synth` with the same seed writes the same captions)
# and its label caches, parsed where spaCy is, travel as .gpubench/labels-medium.tgz:
#
#   ssamt synth --size medium DIR && for s in train dev test; do ssamt labels DIR --split $s; done
#   python -c "from ssamt.pipelines.analysis.minimal_run import load_inputs; load_inputs('DIR', 'test')"
#   tar czf .gpubench/labels-medium.tgz -C DIR train_labels.jsonl dev_labels.jsonl test_labels.jsonl \
#       test_minimal_labels.jsonl
#
# (about 7 MB compressed; the size's name replaces "medium" for RECIPES_SIZE=tiny; run with
# carry [".gpubench"]). Knobs for a dry run on a CPU: STEPS1, STEPS2, BENCH_STEPS, MAX_PAIRS,
# K, BATCH, LIMIT; CASTS (default "bf16 fp32") for the evaluations; for the coco part
# COCO_IMAGES (default 113287), COCO_STEPS1 (30), COCO_STEPS2 (20) and COCO_SET (options of
# bench_training_time.py, e.g. "--set model.d_model=64 --profile 0" to shrink the model).
set -u
DATA=${1:?DATA_DIR}; OUT=${2:?OUT_DIR}; DEV=${3:-cuda}
STEPS1=${STEPS1:-20}; STEPS2=${STEPS2:-5}; BENCH_STEPS=${BENCH_STEPS:-40}
MAX_PAIRS=${MAX_PAIRS:-100000}; K=${K:-128}; BATCH=${BATCH:-512}; LIMIT=${LIMIT:-150}
PARTS=" ${PARTS:-coco} "
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH=$ROOT/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
BF16=(); PEAK=()
if [ "$DEV" != cpu ]; then BF16=(--bf16); PEAK=(--peak-tflops 989); fi
RUNS=$(mktemp -d)
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log") 2>&1

want() { [[ "$PARTS" == *" $1 "* ]]; }

step() {  # step NAME COMMAND...: timed, limited, never stops the script
    echo; echo "=== $1 ($(date -u +%H:%M:%S))"; shift
    local t0=$SECONDS
    timeout "$LIMIT" "$@"; echo "--- exit $? after $((SECONDS - t0)) s"
}

for f in "$DATA"/test_*; do
    name=$(basename "$f"); cp "$f" "$DATA/train_${name#test_}"
done
step "machine" bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
    2>/dev/null; nproc; $PY -c 'import torch, platform; print(platform.python_version(), \
    torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())'"

# Training time at COCO's size (PARTS=coco): the tiled splits, then the measured updates.
if want coco; then
    COCO=$RUNS/coco
    for spec in "train ${COCO_IMAGES:-113287}" "testall 5000"; do
        set -- $spec
        step "tile $1 ($2 images)" $PY "$ROOT/benchmarks/tile_split.py" "$DATA" test "$COCO" \
            "$1" --images "$2" --regions 36 --dim 2048 --dtype float16
    done
    LIMIT=${COCO_LIMIT:-480} step "training time, COCO size" $PY \
        "$ROOT/benchmarks/bench_training_time.py" --data "$COCO" --device "$DEV" \
        --steps1 "${COCO_STEPS1:-30}" --steps2 "${COCO_STEPS2:-20}" --evaluate coco5k \
        --rerank-k "$K" "${BF16[@]}" --batch-size "$BATCH" --json "$OUT/training_time.json" \
        ${COCO_SET:-}
    rm -rf "$COCO"
fi

# Eager against compiled on the device (PARTS=compile).
if want compile; then
    for f in "$DATA"/test_*; do name=$(basename "$f"); cp "$f" "$DATA/dev_${name#test_}"; done
    LIMIT=${COMPILE_LIMIT:-420} step "eager against compiled, paper-f30k" $PY \
        "$ROOT/benchmarks/bench_compile.py" --data "$DATA" --presets paper-f30k --reps 3 \
        --device "$DEV"
fi

# Stage 2: the batched pair scorer on the first MAX_PAIRS pairs, then on every candidate
# pair of the F30K-size gallery.
want stage2 && for preset in synthetic paper-f30k; do
    step "stage 2, $preset" $PY "$ROOT/benchmarks/bench_stage2.py" \
        --preset "$preset" --data "$DATA" --k "$K" --device "$DEV" "${BF16[@]}" "${PEAK[@]}" \
        --batch-size "$BATCH" --reps 1 --max-pairs "$MAX_PAIRS"
done
want stage2 && step "stage 2 all pairs, paper-f30k" $PY "$ROOT/benchmarks/bench_stage2.py" \
    --preset paper-f30k --data "$DATA" --k "$K" --device "$DEV" "${BF16[@]}" "${PEAK[@]}" \
    --batch-size "$BATCH" --reps 2

# Short trainings: checkpoints to evaluate and to time phase 2 from (weights barely trained).
TRAIN=(-m ssamt train --data "$DATA" --device "$DEV" --quiet --set phase1.max_steps="$STEPS1"
       --set phase2.max_steps="$STEPS2" --set eval.every_epochs=0)
want train && step "train paper-f30k (short)" $PY "${TRAIN[@]}" --config paper-f30k --out "$RUNS/paper"
want train && step "train synthetic phase 1 (short)" $PY "${TRAIN[@]}" --config synthetic --out "$RUNS/synth" \
    --phase 1

# A whole Flickr30K-size evaluation, one process end to end (start, loading, both stages).
want eval && for cast in ${CASTS:-bf16 fp32}; do
    flag=(); [ "$cast" = bf16 ] && flag=("${BF16[@]}")
    step "ssamt evaluate, F30K size, K=$K, $cast" bash -c "time $PY -m ssamt evaluate \
        --checkpoint $RUNS/paper --data $DATA --rerank-k $K --device $DEV ${flag[*]} \
        --batch-size $BATCH --quiet --json $OUT/evaluate_$cast.json"
done

# Phase-2 updates/s, with and without the thread that prepares the next batch.
want phase2 && step "phase 2 updates/s, paper-f30k" $PY "$ROOT/benchmarks/bench_phase2.py" \
    --run "$RUNS/paper" --data "$DATA" --steps "$BENCH_STEPS" --reps 1 --device "$DEV"
# The same update (32,768 instances) as one micro-batch instead of four: a quarter of the launches.
want phase2 && step "phase 2 updates/s, paper-f30k, one micro-batch an update" $PY \
    "$ROOT/benchmarks/bench_phase2.py" --run "$RUNS/paper" --data "$DATA" --steps "$BENCH_STEPS" \
    --reps 1 --device "$DEV" --set phase2.token_budget=32768 --set phase2.accum_steps=1
want phase2 && step "phase 2 updates/s, synthetic" $PY "$ROOT/benchmarks/bench_phase2.py" \
    --run "$RUNS/synth" --data "$DATA" --steps "$((BENCH_STEPS * 3))" --reps 1 --device "$DEV"
# Where a paper-size phase-2 update spends its time.
want profile && step "phase 2 profile, paper-f30k" $PY "$ROOT/benchmarks/profile_phase2.py" \
    --run "$RUNS/paper" --data "$DATA" --steps 10 --device "$DEV" --rows 25
# The paper's recipe and ssamt's side by side on the medium set (30,000 training images).
if want recipes; then
    SIZE=${RECIPES_SIZE:-medium}; SET="$RUNS/$SIZE"
    step "synth $SIZE" $PY -m ssamt synth --size "$SIZE" --quiet "$SET"
    tar xzf "$ROOT/.gpubench/labels-$SIZE.tgz" -C "$SET"
    # shellcheck disable=SC2086
    LIMIT=${RECIPES_LIMIT:-1200} step "analyze recipes, $SIZE set" $PY -m ssamt analyze recipes \
        --data "$SET" --out "$OUT/recipes-$SIZE" --device "$DEV" --quiet --seeds ${SEEDS:-0 1 2}
fi
rm -rf "$RUNS"

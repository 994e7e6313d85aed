#!/bin/bash
# Test recall of the ssamt recipe after N phase-2 updates, over seeds, from one phase 1 per
# seed: is a shorter phase 2 as good? (BENCHMARKS.md, "How long phase 2 needs to be".)
#
#   bash benchmarks/phase2_length.sh DATA OUT "0 1 2" "800 1200"
#
# DATA: a labelled synthetic folder (`ssamt synth --size small DATA`, then `ssamt labels` or
# a quick start's data). Per seed S: OUT/sS/p1 (phase 1 of the synthetic preset), then for
# each N OUT/sS/p2-N (phase 2 from that phase1.pt with phase2.max_steps=N, Eq. 5's weights
# chosen on dev) and OUT/sS/p2-N/test.json (`ssamt evaluate`, K = 10). One thread per
# training, two trainings at a time (one per core); finished runs are skipped. Ends with a
# table of stage-1 and re-ranked test RSum per seed and N.
set -euo pipefail
DATA=${1:?DATA}; OUT=${2:?OUT}; SEEDS=${3:-0 1 2}; STEPS=${4:-800 1200}
SSAMT=${SSAMT:-ssamt}
one() { taskset -c "$1" env OMP_NUM_THREADS=1 $SSAMT "${@:2}"; }
phase1() {  # seed core
  [ -e "$OUT/s$1/p1/phase1.pt" ] || one "$2" train --data "$DATA" --out "$OUT/s$1/p1" \
    --phase 1 --config synthetic --set seed="$1" --quiet
}
phase2() {  # seed steps core
  local run=$OUT/s$1/p2-$2
  [ -e "$run/test.json" ] && return
  mkdir -p "$run"
  cp "$OUT/s$1/p1/phase1.pt" "$OUT/s$1/p1/config.yaml" "$run/"
  one "$3" train --data "$DATA" --out "$run" --phase 2 \
    --set phase2.max_steps="$2" --quiet
  one "$3" evaluate --checkpoint "$run" --data "$DATA" --rerank-k 10 --json "$run/test.json" \
    --quiet > /dev/null
}
mkdir -p "$OUT"
jobs=()
for s in $SEEDS; do for n in $STEPS; do jobs+=("$s $n"); done; done
lane() {  # core: every other job, phase 1 first where the seed has none
  local i
  for ((i = $1; i < ${#jobs[@]}; i += 2)); do
    set -- "$1" ${jobs[$i]}
    until mkdir "$OUT/s$2.lock" 2>/dev/null; do sleep 5; done  # one phase 1 per seed
    phase1 "$2" "$1"; rmdir "$OUT/s$2.lock"
    phase2 "$2" "$3" "$1"
  done
}
lane 0 & lane 1 & wait
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print("| seed | phase-2 updates | stage 1 RSum | re-ranked RSum |\n|---:|---:|---:|---:|")
for f in sorted(out.glob("s*/p2-*/test.json"), key=lambda p: (p.parent.name, p.parts[-3])):
    r = json.loads(f.read_text())
    print(f"| {f.parts[-3][1:]} | {f.parent.name[3:]} | {r['intra']['rsum']:.1f} | "
          f"{r['reranked']['rsum']:.1f} |")
PY

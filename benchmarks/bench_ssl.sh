#!/usr/bin/env bash
# SimCLR on Fashion-MNIST (issue 17): a temperature check on validation, the pretraining run,
# then the linear probe (all labels) and 1% fine-tuning, each beside the random-init encoder
# and training from scratch. Every command runs under the shared CPU lock; uptime before and
# after each is logged. Usage: benchmarks/bench_ssl.sh OUT_DIR [EPOCHS]
set -euo pipefail
OUT=${1:?usage: bench_ssl.sh OUT_DIR [EPOCHS]}
EPOCHS=${2:-10}
PY=${PY:-/work/main/.venv/bin/python}
LOCK=/tmp/visionblocks-cpu.lock
mkdir -p "$OUT"
run() {  # run NAME CMD...: timed, under the lock, with the load before and after
  local name=$1; shift
  echo "== $name: $*"
  flock "$LOCK" bash -c 'echo "load before: $(uptime)"; s=$(date +%s.%N);
    "$@"; e=$(date +%s.%N); echo "wall seconds: $(echo "$e - $s" | bc)";
    echo "load after: $(uptime)"' _ "$@"
}
VB=("$PY" -m visionblocks)
COMMON=(--data fashion-mnist --batch-size 256 --lr 1e-3 --seed 0 --quiet)
# 1. the choice made on validation: tau 0.5 vs 0.2, one epoch on 10240 training images
for tau in 0.5 0.2; do
  run "tau $tau" "${VB[@]}" pretrain --method simclr "${COMMON[@]}" --num-train 10240 \
    --epochs 1 --tau "$tau" --out "$OUT/tau-$tau"
done
TAU=$("$PY" - "$OUT" <<'PYEOF'
import json, sys
accs = {t: json.loads(open(f"{sys.argv[1]}/tau-{t}/metrics.jsonl").readline())["knn_acc"]
        for t in ("0.5", "0.2")}
print(max(accs, key=accs.get))
PYEOF
)
echo "tau chosen on the validation kNN monitor: $TAU"
# 2. the pretraining run on the 55000-image train split (5000 held out for validation)
run "pretrain simclr" "${VB[@]}" pretrain --method simclr "${COMMON[@]}" --epochs "$EPOCHS" \
  --tau "$TAU" --out "$OUT/simclr"
# 3. the protocols, test split scored once
run "probe all" "${VB[@]}" probe "$OUT/simclr" --labels all --test --tsne 1000
run "probe 1%" "${VB[@]}" probe "$OUT/simclr" --labels 1% --test

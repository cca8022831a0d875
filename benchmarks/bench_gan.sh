#!/usr/bin/env bash
# DCGAN on Fashion-MNIST judged in the feature space of our own classifier (issue 16).
# Usage (from the repository root, under the CPU lock):
#   flock /tmp/visionblocks-cpu.lock benchmarks/bench_gan.sh OUT_DIR [NUM_TRAIN] [EPOCHS]
# Step 1 trains the classifier run (torch convnet, 1 epoch); step 2 trains the course's DCGAN
# on NUM_TRAIN training images (default 30000) for EPOCHS epochs (default 1) and logs, per
# epoch, FD / precision / recall / density / coverage / inception score of 1,000 samples
# against 1,000 validation images, and the same for 1,000 real training images (real vs real).
set -euo pipefail
OUT=${1:?usage: bench_gan.sh OUT_DIR [NUM_TRAIN] [EPOCHS]}
NUM_TRAIN=${2:-30000}
EPOCHS=${3:-1}
PY=${PYTHON:-/work/main/.venv/bin/python}
export PYTHONPATH=${PYTHONPATH:-src}
mkdir -p "$OUT"
stamp() { echo "$(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg) -- $*"; }
stamp "classifier start"
t0=$(date +%s)
$PY -m visionblocks train --engine torch --model convnet --data fashion-mnist --epochs 1 \
    --batch-size 64 --print-every 0 --out "$OUT/classifier"
t1=$(date +%s)
stamp "classifier done in $((t1 - t0)) s; dcgan start"
$PY -m visionblocks train --engine torch --model dcgan --data fashion-mnist \
    --num-train "$NUM_TRAIN" --epochs "$EPOCHS" --batch-size 128 --print-every 50 \
    --sample-every 50 --classifier "$OUT/classifier" --out "$OUT/dcgan"
t2=$(date +%s)
stamp "dcgan done in $((t2 - t1)) s (total $((t2 - t0)) s)"
$PY - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
s = json.loads((out / "dcgan" / "summary.json").read_text())
c = json.loads((out / "classifier" / "summary.json").read_text())
keys = ("fd", "precision", "recall", "density", "coverage", "inception_score")
print(f"classifier {out / 'classifier'}: test accuracy {c['test_accuracy']:.4f}")
print("| samples | " + " | ".join(keys) + " |")
print("|---|" + "---:|" * len(keys))
print("| real train vs real val | " + " | ".join(f"{s['real_vs_real'][k]:.3f}" for k in keys) + " |")
print(f"| dcgan, epoch {s['epochs']} | " + " | ".join(f"{s['final'][k]:.3f}" for k in keys) + " |")
PYEOF

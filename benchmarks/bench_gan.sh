#!/usr/bin/env bash
# GANs on Fashion-MNIST judged in the feature space of our own classifier (issue 16).
# Usage (from the repository root, under the CPU lock):
#   flock /tmp/visionblocks-cpu.lock benchmarks/bench_gan.sh OUT_DIR [NUM_TRAIN] [EPOCHS] [MODELS]
# Step 1 trains the classifier run (torch convnet, 1 epoch; skipped when OUT_DIR/classifier
# holds one); step 2 trains each GAN model of MODELS (default "dcgan"; e.g. "gan lsgan") on
# NUM_TRAIN training images (default 30000) for EPOCHS epochs (default 1) and logs, per epoch,
# FD / precision / recall / density / coverage / inception score of 1,000 samples against
# 1,000 validation images, and the same for 1,000 real training images (real vs real).
set -euo pipefail
OUT=${1:?usage: bench_gan.sh OUT_DIR [NUM_TRAIN] [EPOCHS] [MODELS]}
NUM_TRAIN=${2:-30000}
EPOCHS=${3:-1}
MODELS=${4:-dcgan}
PY=${PYTHON:-/work/main/.venv/bin/python}
export PYTHONPATH=${PYTHONPATH:-src}
mkdir -p "$OUT"
stamp() { echo "$(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg) -- $*"; }
if [ ! -f "$OUT/classifier/summary.json" ]; then
    stamp "classifier start"
    t0=$(date +%s)
    $PY -m visionblocks train --engine torch --model convnet --data fashion-mnist --epochs 1 \
        --batch-size 64 --print-every 0 --out "$OUT/classifier"
    stamp "classifier done in $(($(date +%s) - t0)) s"
fi
for MODEL in $MODELS; do
    stamp "$MODEL start"
    t1=$(date +%s)
    $PY -m visionblocks train --engine torch --model "$MODEL" --data fashion-mnist \
        --num-train "$NUM_TRAIN" --epochs "$EPOCHS" --batch-size 128 --print-every 50 \
        --sample-every 50 --classifier "$OUT/classifier" --out "$OUT/$MODEL"
    stamp "$MODEL done in $(($(date +%s) - t1)) s"
done
$PY - "$OUT" $MODELS <<'PYEOF'
import json, sys
from pathlib import Path
out, models = Path(sys.argv[1]), sys.argv[2:]
c = json.loads((out / "classifier" / "summary.json").read_text())
keys = ("fd", "precision", "recall", "density", "coverage", "inception_score")
print(f"classifier {out / 'classifier'}: test accuracy {c['test_accuracy']:.4f}")
print("| samples | " + " | ".join(keys) + " | seconds |")
print("|---|" + "---:|" * (len(keys) + 1))
for i, m in enumerate(models):
    s = json.loads((out / m / "summary.json").read_text())
    if i == 0:
        r = s["real_vs_real"]
        print("| real train vs real val | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " | |")
    row = " | ".join(f"{s['final'][k]:.3f}" for k in keys)
    print(f"| {m}, {s['epochs']} epoch(s) | {row} | {s['gan_seconds']:.0f} |")
PYEOF

#!/usr/bin/env bash
# The fair benchmarks of issue 13, in one go, for docs/BENCHMARKS.md:
#
#   1. kNN vs scikit-learn brute force, 10,000 test x 60,000 train x 784, k = 4, five
#      interleaved pairs (order alternating), median ratio, untimed memory pass
#      (bench_classic.py --only-full);
#   2. softmax / linear SVM vs LogisticRegression / LinearSVC: time to the same validation
#      accuracy, our 20-trial search counted, objectives and stopping rules stated
#      (bench_linear.py);
#   3. NumPy vs torch engine on the ConvNet, 3 epochs interleaved epoch for epoch through the
#      resume API, after an exact-resume check (bench_engines.py --check-resume).
#
# Usage (from the repository root, on a quiet machine):
#
#   benchmarks/run_fair.sh OUT_DIR          # PYTHON=path/to/python to choose the interpreter
#
# The whole script holds /tmp/visionblocks-cpu.lock (it re-runs itself under flock), so no job
# that takes the lock (tests, benchmarks) shares the cores. Each step runs under
# /usr/bin/time -v; OUT_DIR gets, per step NAME in {knn, linear, engines}: NAME.md (the markdown
# table), NAME.json (every timing, load average, accuracy and the software/thread record),
# NAME.time.txt (/usr/bin/time -v), NAME.stderr; and fair.md (all tables, wall times, peak
# RSS, git commit, load averages).
# Exit status: 0 when every step passed (kNN predictions identical, resume exact), else 1.
#
# Expected total time on the project machine (2 cores, idle): about 14 minutes, estimated from
# the timings in docs/BENCHMARKS.md and from calibration runs on subsets (SMOKE=1 takes 40 s):
#   knn      ~3 min: data loading, 5 pairs of (ours ~10 s + scikit-learn ~14 s), one untimed
#            tracemalloc pass of ours (~15 s);
#   linear   ~6 min: two searches (~57 s softmax, ~48 s SVM), two refits (~9 s, ~6 s), and
#            scikit-learn's fits on 55,000 images (LogisticRegression ~80 s, LinearSVC ~160 s);
#   engines  ~5 min: the resume check (~15 s), then 3 epochs of (NumPy ~60 s + torch ~33 s,
#            each with its accuracy checks), and the two test passes.
# The host's speed drifts by up to 1.8x with nothing of ours running (BENCHMARKS.md), so allow
# 20 minutes; the load average is recorded around every timed block to show such drift.
#
# SMOKE=1 benchmarks/run_fair.sh OUT_DIR runs every step on tiny sizes (about a minute).
set -u -o pipefail

if [ $# -ne 1 ]; then
    echo "usage: benchmarks/run_fair.sh OUT_DIR (got $# arguments)" >&2
    exit 2
fi
if [ -z "${VB_FAIR_LOCKED:-}" ]; then
    exec env VB_FAIR_LOCKED=1 flock /tmp/visionblocks-cpu.lock bash "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
if [ ! -x "$PY" ]; then
    echo "run_fair.sh: no Python at $PY; set PYTHON=path/to/python" >&2
    exit 2
fi
cd "$ROOT"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg

if [ -n "${SMOKE:-}" ]; then
    KNN=(--full-test 300 --full-train 5000 --repeats-full 3)
    LIN=(--num-train 2000 --epochs 2 --trials 2)
    ENG=(--num-train 640 --epochs 2 --filters 8,16 --hidden 32)
else
    KNN=(--repeats-full 5)
    LIN=()
    ENG=(--epochs 3)
fi

status=0
step() {  # step NAME SCRIPT ARGS...: one timed benchmark, its outputs in $OUT/NAME.*
    local name=$1 script=$2
    shift 2
    echo "== $name: $script $* (load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%T) UTC)"
    /usr/bin/time -v -o "$OUT/$name.time.txt" "$PY" "benchmarks/$script" "$@" \
        --json "$OUT/$name.json" 2> >(tee "$OUT/$name.stderr" >&2) | tee "$OUT/$name.md"
    local rc=$?
    if [ $rc -ne 0 ]; then
        echo "== $name FAILED (exit $rc); see $OUT/$name.stderr" >&2
        status=1
    fi
}

start=$(date -u +%s)
step knn bench_classic.py --only-full "${KNN[@]}"
step linear bench_linear.py "${LIN[@]}"
step engines bench_engines.py --check-resume "${ENG[@]}"
wait  # the tee of stderr

{
    echo "# Fair benchmarks ($(date -u +%F) UTC)"
    echo
    echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)');" \
        "command: \`benchmarks/run_fair.sh $1\`${SMOKE:+ (SMOKE=1: tiny sizes, not for the docs)};" \
        "total $(($(date -u +%s) - start)) s; load at the end $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "| step | wall clock (/usr/bin/time -v) | CPU | peak RSS (KiB) | exit |"
    echo "|---|---|---|---|---|"
    for name in knn linear engines; do
        t="$OUT/$name.time.txt"
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$t" 2>/dev/null)
        cpu=$(sed -n 's/.*Percent of CPU this job got: //p' "$t" 2>/dev/null)
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$t" 2>/dev/null)
        code=$(sed -n 's/.*Exit status: //p' "$t" 2>/dev/null)
        echo "| $name | ${wall:--} | ${cpu:--} | ${rss:--} | ${code:--} |"
    done
    for name in knn linear engines; do
        echo
        echo "## $name"
        echo
        cat "$OUT/$name.md" 2>/dev/null
    done
} >"$OUT/fair.md"
echo "== done in $(($(date -u +%s) - start)) s: $OUT/fair.md (exit $status)"
exit $status

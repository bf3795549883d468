#!/usr/bin/env bash
# The whole study on an offline GPU machine, in one prepared command (also runs on CPU with tiny settings).
#
#   benchmarks/gpu_study.sh --out DIR --data cifar10-jpeg.tar.gz [--wheels DIR] [--budget MIN] [--bench]
#                           [--tar FILE] [--settings tiny.json] [--profile full] [--seeds 0,1,2] [--work DIR] [--compile]
#                           [--strong-classifier] [--size 32]
#
# 1. --wheels: installs the fastai wheels there (see ../shared/README.md) into WORK/site, offline;
# 2. prepares the data archive into WORK/data (--size: the profile's image size, e.g. 128 for
#    --profile photo-full on the Imagenette archive);
# 3. --bench: benchmarks/train_speed.py on the GPU (plain loop vs our Learner), without and with
#    torch.compile -> DIR/train_speed.md, DIR/train_speed_compile.md;
#    --strong-classifier: trains the cifar-resnet18 classifier with its GPU recipe (does it reach
#    90 % test accuracy?) -> DIR/strong_classifier/ (history.csv, model.json);
# 4. nogancolor compare --profile full --seeds 0,1,2 -> DIR/report/ (report.md, figures, raw records);
#    with --budget MIN it stops at the last epoch boundary that fits in MIN minutes from this
#    script's start (steps 1-3 included) and exits 75: the same command continues from there;
# 5. copies every run's history.csv and model.json to DIR/runs/ and writes DIR/environment.txt;
# 6. --tar FILE: packs DIR into FILE.tar.gz, whatever the outcome (a device machine returns few files).
# WORK (default .gpu_study/work) keeps the installed wheels, the prepared data and the runs.
# Everything it prints is also in DIR/log.txt. DEVICE, BENCH_ARGS (extra train_speed.py options) and
# CLASSIFIER_ARGS (replacing the strong classifier's recipe) are for dry runs.
set -euo pipefail
cd "$(dirname "$0")/.."

out="" data="" wheels="" budget="" settings="" tar="" bench=0 strong=0 compile="" profile="full" seeds="0,1,2" work=".gpu_study/work" size=32
while [ $# -gt 0 ]; do
	case "$1" in
		--out) out=$2; shift 2 ;;
		--data) data=$2; shift 2 ;;
		--wheels) wheels=$2; shift 2 ;;
		--budget) budget=$2; shift 2 ;;
		--settings) settings=$2; shift 2 ;;
		--tar) tar=$2; shift 2 ;;
		--profile) profile=$2; shift 2 ;;
		--seeds) seeds=$2; shift 2 ;;
		--size) size=$2; shift 2 ;;
		--work) work=$2; shift 2 ;;
		--bench) bench=1; shift ;;
		--strong-classifier) strong=1; shift ;;
		--compile) compile="--compile"; shift ;;
		-h|--help) sed -n '2,23p' "$0"; exit 0 ;;
		*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
[ -n "$out" ] && [ -n "$data" ] || { echo "error: --out and --data are required (see --help)" >&2; exit 2; }
[ -e "$data" ] || { echo "error: $data: no such data archive or folder" >&2; exit 2; }
mkdir -p "$out" "$work"
out=$(cd "$out" && pwd) work=$(cd "$work" && pwd)
exec > >(tee -a "$out/log.txt") 2>&1
PY=${PYTHON:-python3} BENCH_ARGS=${BENCH_ARGS:-}
CLASSIFIER_ARGS=${CLASSIFIER_ARGS:---epochs 30 --bs 512 --lr 4e-3}  # the recipe docs/usage.md names
export PYTHONUNBUFFERED=1 PYTHONPATH="$work/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
started=$(date +%s)
stamp() { echo "[gpu_study $(date -u +%H:%M:%S), $(( $(date +%s) - started )) s] $*"; }
source benchmarks/gpu_common.sh

[ -z "$wheels" ] || install_wheels "$wheels" "$work/site"
{
	date -u
	"$PY" -c 'import platform, torch, fastai; print("python", platform.python_version(), "torch", torch.__version__, "fastai", fastai.__version__)'
	"$PY" -c 'import torch; print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only")'
	command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
	grep -m1 "model name" /proc/cpuinfo || true
} > "$out/environment.txt"
cat "$out/environment.txt"

stamp "preparing $data"
"$PY" -m cli.main data prepare --path "$data" --size "$size" --out "$work/data"

if [ "$bench" = 1 ]; then
	stamp "training speed: plain loop vs Learner"
	"$PY" benchmarks/train_speed.py --data "$work/data" --device "${DEVICE:-cuda}" $BENCH_ARGS | tee "$out/train_speed.md"
	stamp "training speed with torch.compile (does --compile help here?)"
	"$PY" benchmarks/train_speed.py --data "$work/data" --device "${DEVICE:-cuda}" $BENCH_ARGS --compile --no-cpu-table \
		| tee "$out/train_speed_compile.md" || stamp "torch.compile benchmark failed; the study goes on"
fi

if [ "$strong" = 1 ]; then
	stamp "the stronger classifier: cifar-resnet18 $CLASSIFIER_ARGS"
	"$PY" -m cli.main train classifier --data "$work/data" --arch cifar-resnet18 $CLASSIFIER_ARGS \
		--out "$work/strong_classifier" --force || stamp "the stronger classifier failed; the study goes on"
	mkdir -p "$out/strong_classifier"
	cp "$work/strong_classifier/history.csv" "$work/strong_classifier/model.json" "$out/strong_classifier/" 2>/dev/null || true
fi

left=""
if [ -n "$budget" ]; then  # what is left of the budget after the steps above
	left=$(awk -v b="$budget" -v s="$(( $(date +%s) - started ))" 'BEGIN { r = b - s / 60; printf "%.2f", (r > 0 ? r : 0) }')
fi
stamp "compare --profile $profile --seeds $seeds${left:+ (time left: $left min)}"
status=0
"$PY" -m cli.main compare --data "$work/data" --profile "$profile" --seeds "$seeds" --out "$out/report" \
	--runs "$work/runs" ${settings:+--config "$settings"} ${left:+--time-budget "$left"} $compile || status=$?

copy_run_records "$work/runs" "$out/runs"
case $status in
	0) stamp "done: $out/report/report.md" ;;
	75) stamp "stopped by the time budget: run the same command again to continue" ;;
	*) stamp "compare failed (exit $status)" ;;
esac
if [ -n "$tar" ]; then
	tar czf "$tar" -C "$(dirname "$out")" "$(basename "$out")"
	stamp "packed $out into $tar"
fi
exit $status

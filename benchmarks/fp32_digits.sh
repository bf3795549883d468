#!/usr/bin/env bash
# No behaviour change: train and evaluate the quick profile's U-Net and NoGAN (seed 0, hue split,
# --precision fp32) with the code of COMMIT and with the working tree, and compare their test-set
# numbers and exported weights. A refactor should leave both identical.
#
#   benchmarks/fp32_digits.sh COMMIT CLASSIFIER [DATA] [WORK]
#
# CLASSIFIER: the model.safetensors of a `train classifier` run (NoGAN's feature network and the
# FCD's; the same file for both versions). DATA: a prepared CIFAR-10 (default data/cifar10).
# WORK (default /tmp/fp32-digits) keeps a worktree of COMMIT and both versions' runs. Takes about
# 25 min on a 2-core CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,12p' "$0"; exit 2; }
commit=$1 classifier=$(realpath "$2") data=$(realpath "${3:-data/cifar10}") work=${4:-/tmp/fp32-digits}
PY=${PYTHON:-$PWD/.venv/bin/python}
sub=(--data "$data" --split hue --n-train 4000 --n-val 1000 --seed 0 --precision fp32)
mkdir -p "$work"
[ -d "$work/src-before" ] || git worktree add -q --detach "$work/src-before" "$commit"
for version in before after; do
	src=$([ $version = before ] && echo "$work/src-before" || pwd) out=$work/runs-$version
	run() { (cd "$src" && PYTHONPATH="$src" "$PY" -c 'from cli.main import app; app()' "$@"); }
	run train unet "${sub[@]}" --epochs 3 --out "$out/unet" > "$out-unet.log" 2>&1
	run train nogan "${sub[@]}" --gen-epochs 2 --critic-epochs 1 --gan-epochs 2 --val-every 10 --classifier "$classifier" \
		--out "$out/nogan" > "$out-nogan.log" 2>&1
	for m in unet nogan; do
		run evaluate "$out/$m/model.safetensors" --data "$data" --set test --n-images 2000 --classifier "$classifier" \
			| grep -E '^(psnr|colorfulness_pred|frechet_classifier_distance) ' > "$out-$m.txt"
	done
done
"$PY" - "$work" <<'PY'
import sys
import torch
from safetensors.torch import load_file
work = sys.argv[1]
for m in ("unet", "nogan"):
    before, after = (open(f"{work}/runs-{v}-{m}.txt").read().split() for v in ("before", "after"))
    a, b = (load_file(f"{work}/runs-{v}/{m}/model.safetensors") for v in ("before", "after"))
    same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    print(f"{m}: before {' '.join(before)}; after {' '.join(after)}; weights {'identical' if same else 'DIFFER'}")
PY

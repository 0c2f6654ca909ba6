#!/usr/bin/env bash
# Fills gpu_data/ (ignored by git) with photo folders for a lent GPU, within
# the 64 MiB that a device call carries: every photo of the folders named
# first in FULL, then an evenly spaced share of each folder in SAMPLE, the
# same share of each, until BUDGET_MB. With WEIGHTS=1 it also converts the
# EfficientNet-Lite0 encoder's ImageNet weights (no head: 12 MB) into
# gpu_data/weights/ for the encoder recipes (launch/gpu_reference.sh).
#
#   BUDGET_MB=40 FULL="train_neutral" SAMPLE="train train_more train_scenes" WEIGHTS=1 \
#     launch/gpu_data.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
budget=$(( ${BUDGET_MB:-40} * 1024 * 1024 ))
rm -rf gpu_data && mkdir -p gpu_data
for f in ${FULL:-train_neutral}; do cp -r "../shared/data/$f" gpu_data/; done
"$python" - "$budget" ${SAMPLE:-train train_more train_scenes} <<'PY'
import os, shutil, sys
budget, names = int(sys.argv[1]), sys.argv[2:]
used = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk('gpu_data') for f in fs)
files = {n: sorted(os.path.join(r, f) for r, _, fs in os.walk(f'../shared/data/{n}') for f in fs
                   if f.lower().endswith(('.jpg', '.jpeg', '.png'))) for n in names}
total = sum(os.path.getsize(p) for ps in files.values() for p in ps)
share = min(1.0, (budget - used) / total)
for name, paths in files.items():
  keep = paths[::max(1, round(1 / share))] if share < 1 else paths
  for p in keep:
    target = os.path.join('gpu_data', name, os.path.relpath(p, f'../shared/data/{name}'))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy(p, target)
  print(f'{name}: {len(keep)} of {len(paths)} photos')
PY
if [[ -n "${WEIGHTS:-}" ]]; then
  "$python" -m colorjax.efficientnet --variant=lite0 --encoder_only --out=gpu_data/weights/lite0.npz
fi
du -sh gpu_data

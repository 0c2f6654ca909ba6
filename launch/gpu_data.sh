#!/usr/bin/env bash
# Fills gpu_data/ (ignored by git) with photo folders for a lent GPU, within
# the 64 MiB that a device call carries: every photo of the folders named
# first in FULL, then an evenly spaced share of each folder in SAMPLE, the
# same share of each, until BUDGET_MB. With WEIGHTS=1 it also converts the
# EfficientNet-Lite0 encoder's ImageNet weights (no head: 12 MB) into
# gpu_data/weights/ for the encoder recipes (launch/gpu_reference.sh).
# With CIFAR=1 it fills gpu_data/cifar10 instead, for the seed table
# (launch/seed_table.sh with DATA=gpu_data/cifar10): all of test/ (9.5 MB)
# and an evenly spaced share of train/ (47.4 MB for 50,000 images) within
# BUDGET_MB. The whole folder does not fit beside the working tree (18.7 MB
# of tracked files, 2026-12-01): 57 MB + 18.7 MB > 64 MiB; BUDGET_MB=40 takes
# test/ and 35,547 training images, evenly spaced over the ten classes (43.0 MB,
# measured 2026-12-01), less if wheels travel too.
#
#   BUDGET_MB=40 FULL="train_neutral" SAMPLE="train train_more train_scenes" WEIGHTS=1 \
#     launch/gpu_data.sh
#   BUDGET_MB=40 CIFAR=1 launch/gpu_data.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
budget=$(( ${BUDGET_MB:-40} * 1024 * 1024 ))
rm -rf gpu_data && mkdir -p gpu_data
root=../shared/data
if [[ -n "${CIFAR:-}" ]]; then
  mkdir -p gpu_data/cifar10 && cp -r ../shared/data/cifar10/test gpu_data/cifar10/
  root=../shared/data/cifar10 FULL="" SAMPLE=train
fi
for f in ${FULL-train_neutral}; do cp -r "../shared/data/$f" gpu_data/; done
"$python" - "$budget" "$root" ${SAMPLE:-train train_more train_scenes} <<'PY'
import os, shutil, sys
budget, root, names = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
into = 'gpu_data/cifar10' if root.endswith('cifar10') else 'gpu_data'
used = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk('gpu_data') for f in fs)
files = {n: sorted(os.path.join(r, f) for r, _, fs in os.walk(f'{root}/{n}') for f in fs
                   if f.lower().endswith(('.jpg', '.jpeg', '.png'))) for n in names}
total = sum(os.path.getsize(p) for ps in files.values() for p in ps)
share = min(1.0, (budget - used) / total)
for name, paths in files.items():
  keep = [paths[int(i / share)] for i in range(int(len(paths) * share))]  # Evenly spaced.
  for p in keep:
    target = os.path.join(into, name, os.path.relpath(p, f'{root}/{name}'))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy(p, target)
  print(f'{name}: {len(keep)} of {len(paths)} images')
PY
if [[ -n "${WEIGHTS:-}" ]]; then
  "$python" -m colorjax.efficientnet --variant=lite0 --encoder_only --out=gpu_data/weights/lite0.npz
fi
du -sh gpu_data

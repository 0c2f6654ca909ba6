#!/usr/bin/env bash
# Trains the reference recipes of configs/photos_gpu.py side by side on a lent
# GPU, each for at most TRAIN_SECONDS, and sends them back as bfloat16 exports
# small enough for $OUT (< 16 MB each). Usually run by launch/gpu_session.sh
# after the benchmark; see there for the preparation.
#
#   TRAIN_SECONDS=330 VARIANTS="unet classification hints cnn" launch/gpu_reference.sh [FLAGS]
#   VARIANTS="photos_encoder:gpu_classification photos_encoder:gpu_hints" launch/gpu_reference.sh
#
# A variant is one of configs/photos_gpu.py (trained on gpu_data/train and
# train_more), or CONFIG:VARIANT of another config file, trained on every
# folder under gpu_data/ (launch/gpu_data.sh fills it within a size budget)
# and written to runs/gpu/CONFIG_VARIANT. The encoder configs read their
# ImageNet weights from gpu_data/weights/lite0.npz when it is there (the
# conversion command's output: python -m colorjax.efficientnet --variant=lite0
# --encoder_only --out=gpu_data/weights/lite0.npz).
#
# FLAGS go to every run (the CPU smoke test shortens the runs with them). The
# runs share the GPU: one process each, XLA's memory split between them, the
# host's threads too. At the deadline `timeout` sends SIGTERM and a run saves
# the step in progress (colorjax.train), so a run cut short keeps all it
# learnt, though its cosine schedule did not reach its end: the summary says
# which step each run reached. Back here, unpack and evaluate each model:
#   mkdir -p runs/gpu/unet && tar xzf FILES_AT/unet.tar.gz -C runs/gpu/unet
#   python -m colorjax.evaluate --checkpoint=runs/gpu/unet \
#     --data=../shared/data/eval/kodak24 --out=runs/gpu/unet/eval_kodak24
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-runs/gpu_reference}"
mkdir -p "$out"
source launch/gpu_env.sh
seconds="${TRAIN_SECONDS:-330}"
variants=(${VARIANTS:-unet classification hints cnn})
folder=gpu_data/train,gpu_data/train_more
[[ -d gpu_data/train ]] || folder=../shared/data/train,../shared/data/train_more
# Each process takes its share of the GPU's memory instead of XLA's 75%.
export XLA_PYTHON_CLIENT_MEM_FRACTION="$(awk -v n="${#variants[@]}" 'BEGIN {printf "%.2f", 0.9 / n}')"
threads=$(( $(nproc) / ${#variants[@]} ))
(( threads >= 2 )) || threads=2

# Every photo folder under gpu_data/ (the weights folder is not one).
all_folders=$(find gpu_data -mindepth 1 -maxdepth 1 -type d ! -name weights 2>/dev/null | sort | paste -sd, -)
names=()
for v in "${variants[@]}"; do
  name="${v//:/_}"
  names+=("$name")
  if [[ "$v" == *:* ]]; then
    args=(--config="configs/${v%%:*}.py:${v#*:}" --config.data.folder="${all_folders:-$folder}")
    [[ -f gpu_data/weights/lite0.npz ]] && args+=(--config.model.encoder_weights=gpu_data/weights/lite0.npz)
  else
    args=(--config="configs/photos_gpu.py:$v" --config.data.folder="$folder")
  fi
  timeout -k 60 "$seconds" "$python" -m colorjax.main "${args[@]}" --workdir="runs/gpu/$name" \
    --config.data.num_threads="$threads" "$@" > "$out/$name.log" 2>&1 &
done
wait
variants=("${names[@]}")

unset XLA_PYTHON_CLIENT_MEM_FRACTION
for v in "${variants[@]}"; do
  reached=$(grep -o 'step [0-9]*/[0-9]*' "$out/$v.log" | tail -n 1)
  rate=$(grep -o '[0-9.]* img/s' "$out/$v.log" | tail -n 1)
  stopped=$(grep -o 'stopped on SIGTERM after step [0-9]*' "$out/$v.log" | tail -n 1)
  echo "$v: ${reached:-no step logged}, ${rate:-no rate}${stopped:+, $stopped}" | tee -a "$out/summary.txt"
  cp "runs/gpu/$v/eval_metrics.jsonl" "$out/$v.eval_metrics.jsonl" 2>/dev/null
done
# One process exports every run (each JAX start-up costs seconds of the lease);
# a run without a checkpoint is reported and skipped.
"$python" - "${variants[@]}" >> "$out/exports.log" 2>&1 <<'PY'
import sys
from colorjax import inference
for v in sys.argv[1:]:
  try:
    inference.export(f'runs/gpu/{v}', f'runs/gpu/{v}/export', bfloat16=True)
  except FileNotFoundError as e:
    print(f'{v}: {e}')
PY
for v in "${variants[@]}"; do
  [[ -d "runs/gpu/$v/export" ]] && tar czf "$out/$v.tar.gz" -C "runs/gpu/$v/export" .
done
ls -l "$out"

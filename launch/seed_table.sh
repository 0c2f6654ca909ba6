#!/usr/bin/env bash
# The seed study's comparison: the seed CNN (configs/cnn.py) and the U-Net
# (configs/unet.py) trained on CIFAR-10 and evaluated on its 10,000 test
# images with the seed's metrics, then the table beside the seed's figures.
#
#   STEPS=2000 launch/seed_table.sh          # a fixed budget (the configs train 50,000 steps)
#
# Needs CIFAR-10 prepared in ~/tensorflow_datasets (the first training start
# prepares it; see the README: network access and TensorFlow for that step).
# Runs go to runs/seed/{cnn,unet}; the table to benchmarks/results/seed_table.json.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python}"
steps="${STEPS:-}"
for model in cnn unet; do
  budget=()
  if [[ -n "$steps" ]]; then
    budget=(--config.num_train_steps="$steps" --config.opt.warmup_steps="$((steps / 20))")
  fi
  "$python" -m colorjax.main --config="configs/$model.py" --workdir="runs/seed/$model" "${budget[@]}"
  "$python" -m colorjax.evaluate --checkpoint="runs/seed/$model" --data=tfds:cifar10:test \
    --resolution=native --out="runs/seed/$model/eval_test"
done
"$python" benchmarks/seed_table.py \
  --runs=cnn:runs/seed/cnn/eval_test,unet:runs/seed/unet/eval_test

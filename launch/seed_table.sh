#!/usr/bin/env bash
# The seed study's comparison: the seed CNN (configs/cnn.py) and the U-Net
# (configs/unet.py) trained on CIFAR-10 and evaluated on its 10,000 test
# images with the seed's metrics, then the table beside the seed's figures.
#
#   STEPS=2000 launch/seed_table.sh          # a fixed budget (the configs train 50,000 steps)
#   DATA=../shared/data/cifar10 STEPS=2000 launch/seed_table.sh   # CIFAR-10 as image folders
#
# By default CIFAR-10 comes from TFDS, prepared in ~/tensorflow_datasets (the
# first training start prepares it; see docs/data.md: network access and
# TensorFlow for that step). With DATA=FOLDER it is read from FOLDER/train
# (all 50,000 images, nothing held out) and evaluated on all of FOLDER/test,
# with no TFDS and no network: the layout of ../shared/data/cifar10 (JPEG
# re-encodings of the original pixels, about 30 dB PSNR against them).
# RUNS (default runs/seed) holds runs/seed/{cnn,unet}; the table goes to
# benchmarks/results/seed_table.json. Extra FLAGS go to both trainings.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python}"
steps="${STEPS:-}"
runs="${RUNS:-runs/seed}"
data=(); test_data=tfds:cifar10:test
if [[ -n "${DATA:-}" ]]; then
  data=(--config.data.source=folder --config.data.folder="$DATA/train"
        --config.data.eval_folder="$DATA/test" --config.data.eval_fraction=0
        --config.data.cache=True)
  test_data="$DATA/test"
fi
for model in cnn unet; do
  budget=()
  if [[ -n "$steps" ]]; then
    budget=(--config.num_train_steps="$steps" --config.opt.warmup_steps="$((steps / 20))")
  fi
  "$python" -m colorjax.main --config="configs/$model.py" --workdir="$runs/$model" \
    "${data[@]}" "${budget[@]}" "$@"
  "$python" -m colorjax.evaluate --checkpoint="$runs/$model" --data="$test_data" \
    --resolution=native --out="$runs/$model/eval_test"
done
"$python" benchmarks/seed_table.py \
  --runs="cnn:$runs/cnn/eval_test,unet:$runs/unet/eval_test"

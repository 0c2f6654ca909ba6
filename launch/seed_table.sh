#!/usr/bin/env bash
# The seed study's comparison: the seed CNN (configs/cnn.py) and the U-Net
# (configs/unet.py) trained on CIFAR-10 and evaluated on its 10,000 test
# images with the seed's metrics, then the table beside the seed's figures.
#
#   STEPS=2000 launch/seed_table.sh          # a fixed budget (the configs train 50,000 steps)
#   DATA=../shared/data/cifar10 UNET_STEPS=1200 CNN_STEPS=600 launch/seed_table.sh
#
# By default CIFAR-10 comes from TFDS, prepared in ~/tensorflow_datasets (the
# first training start prepares it; see docs/data.md: network access and
# TensorFlow for that step). With DATA=FOLDER it is read from FOLDER/train
# (all 50,000 images, nothing held out) and evaluated on all of FOLDER/test,
# with no TFDS and no network: the layout of ../shared/data/cifar10 (JPEG
# re-encodings of the original pixels, about 30 dB PSNR against them).
# Every training image counts, the few gray ones too (gray_threshold 0), as
# in the seed study.
#
# STEPS sets both budgets, UNET_STEPS / CNN_STEPS one each (default: the
# configs' 50,000 steps). The runs do not evaluate while they train
# (eval_every_steps -1): colorjax.evaluate scores them on the test split after.
# The learning curve: a checkpoint every CURVE_POINTS-th of the budget
# (default 3) is kept and scored too (CURVE_POINTS=1: the final one only).
# BUNDLE=1 also scores the bundled photo model (colorjax/pretrained, never
# trained on CIFAR-10) at 32x32 and at its working resolution.
# MODELS (default "cnn unet") picks the networks, e.g. MODELS=unet.
# RUNS (default runs/seed) holds runs/seed/{cnn,unet}; the table goes to
# benchmarks/results/seed_table.json. Extra FLAGS go to both trainings.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python}"
runs="${RUNS:-runs/seed}"
points="${CURVE_POINTS:-3}"
data=(--config.data.gray_threshold=0); test_data=tfds:cifar10:test
if [[ -n "${DATA:-}" ]]; then
  data+=(--config.data.source=folder --config.data.folder="$DATA/train"
         --config.data.eval_folder="$DATA/test" --config.data.eval_fraction=0
         --config.data.cache=True)
  test_data="$DATA/test"
fi
score() {  # CHECKPOINT OUT [evaluate flags]
  "$python" -m colorjax.evaluate --checkpoint="$1" --data="$test_data" --out="$2" "${@:3}"
}
runs_flag=(); curve_flag=()
for model in ${MODELS:-cnn unet}; do
  steps_var="${model^^}_STEPS"
  steps="${!steps_var:-${STEPS:-50000}}"
  every=$(( (steps + points - 1) / points ))
  start=$(date +%s)
  "$python" -m colorjax.main --config="configs/$model.py" --workdir="$runs/$model" \
    "${data[@]}" --config.num_train_steps="$steps" --config.opt.warmup_steps="$((steps / 20))" \
    --config.checkpoint_every_steps="$every" --config.keep_checkpoints="$((points + 1))" \
    --config.eval_every_steps=-1 "$@"
  echo "$(( $(date +%s) - start ))" > "$runs/$model/train_seconds"
  for step_dir in "$runs/$model"/checkpoints/*/; do
    step=$(basename "$step_dir")
    [[ $step =~ ^[0-9]+$ ]] || continue  # Not a set-aside corrupt_<step>.
    if (( step < steps )); then
      score "$step_dir" "$runs/$model/eval_test_$step" --resolution=native
      curve_flag+=("$model:$runs/$model/eval_test_$step")
    fi
  done
  score "$runs/$model" "$runs/$model/eval_test" --resolution=native
  runs_flag+=("$model:$runs/$model/eval_test")
done
if [[ -n "${BUNDLE:-}" ]]; then
  score colorjax/pretrained "$runs/bundle/eval_test_native" --resolution=native
  score colorjax/pretrained "$runs/bundle/eval_test"
  runs_flag+=("bundle at 32x32:$runs/bundle/eval_test_native" "bundle at 128x128:$runs/bundle/eval_test")
fi
"$python" benchmarks/seed_table.py --runs="$(IFS=,; echo "${runs_flag[*]}")" \
  --curve="$(IFS=,; echo "${curve_flag[*]}")"

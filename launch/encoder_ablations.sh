#!/usr/bin/env bash
# The pretrained encoder's training choices, each measured: short runs of
# configs/photos_encoder.py:unet (the MSE head, so no decoding choice enters
# the comparison) that differ in one setting from the recipe, every one
# scored on the same held-out photos (the runs share the split: the same
# folders and seed), then the table (benchmarks/encoder_ablations.py).
#
#   launch/encoder_ablations.sh                      # every arm, 600 steps each
#   STEPS=300 ARMS="recipe frozen_norm" launch/encoder_ablations.sh
#
# Arms (ARMS picks some; default all but lr_scale_0.1):
#   recipe        the recipe: encoder at 0.3x the learning rate, BatchNorm re-estimated
#   recipe_seed1  the same with another seed (the noise between two runs)
#   lr_scale_1    the encoder at the full learning rate
#   lr_scale_0.1  the encoder at 0.1x
#   frozen        the encoder fixed for the first third of the steps, then 0.3x
#   frozen_norm   the encoder's ImageNet BatchNorm statistics kept
#   random        no ImageNet weights (what the pretraining is worth)
#   res128        128x128 crops, 8 per batch, as many pixels as the others (x1.125 steps)
#   res256        the photos at twice the scale (shorter side 256-320 instead of
#                 128-160, so the encoder sees objects nearer ImageNet's size),
#                 192x192 crops, 16 per batch, scored at working resolution 256:
#                 four times the pixels a step
#   recipe_x4     the recipe for four times the steps (about res256's cost)
#   x4_then_res256  recipe_x4's run trained on at res256's scale (init_from, 5e-4;
#                 list recipe_x4 before it in ARMS)
#   x4_then_x4    recipe_x4's run trained on as recipe_x4 (the same cost at 96)
#   lite2_x4      recipe_x4 on EfficientNet-Lite2 (6.1 M parameters against
#                 Lite0's 4.7 M): is a larger pretrained encoder worth its
#                 cost per step?
# RUNS (default runs/encoder_ablations) holds one run per arm; the table goes
# to OUT (default benchmarks/results/encoder_ablations.json). Extra FLAGS go
# to every run.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python}"
runs="${RUNS:-runs/encoder_ablations}"
steps="${STEPS:-600}"
scale_x2="--config.data.image_size=192 --config.data.scale_range=(1.3333,1.6667)"
steps_x4="--config.num_train_steps=$((steps * 4)) --config.opt.warmup_steps=$((steps / 3)) --config.checkpoint_every_steps=$((steps * 4))"
after_x4="--config.init_from=$runs/recipe_x4 --config.opt.learning_rate=5e-4"
declare -A arm_flags=(
  [recipe]=""
  [recipe_seed1]="--config.seed=1"
  [lr_scale_1]="--config.opt.encoder_lr_scale=1.0"
  [lr_scale_0.1]="--config.opt.encoder_lr_scale=0.1"
  [frozen]="--config.opt.encoder_frozen_steps=$((steps / 3))"
  [frozen_norm]="--config.model.frozen_encoder_norm=True"
  [random]="--config.model.encoder_weights="
  [res128]="--config.data.image_size=128 --config.global_batch_size=8 --config.eval.batch_size=8 --config.num_train_steps=$((steps * 9 / 8))"
  [res256]="$scale_x2"
  [recipe_x4]="$steps_x4"
  [x4_then_res256]="$after_x4 $scale_x2"
  [x4_then_x4]="$after_x4 $steps_x4"
  [lite2_x4]="--config.model.encoder=lite2 $steps_x4"
)
declare -A arm_resolution=([res256]=256 [x4_then_res256]=256)  # Working resolution it is scored at; 128 otherwise.
arms="${ARMS:-recipe recipe_seed1 lr_scale_1 frozen frozen_norm random res128}"
table=()
for arm in $arms; do
  [[ -v "arm_flags[$arm]" ]] || { echo "launch/encoder_ablations.sh: no arm '$arm'; choose from ${!arm_flags[*]}." >&2; exit 2; }
  run="$runs/$arm"
  if [[ ! -f "$run/eval_held_out/metrics.json" ]]; then
    start=$(date +%s)
    # shellcheck disable=SC2086  # The arm's flags are words.
    "$python" -m colorjax.main --config=configs/photos_encoder.py:unet --workdir="$run" \
      --config.num_train_steps="$steps" --config.opt.warmup_steps="$((steps / 12))" \
      --config.eval_every_steps=-1 --config.checkpoint_every_steps="$steps" \
      --config.keep_checkpoints=1 ${arm_flags[$arm]} "$@"
    echo "$(( $(date +%s) - start ))" > "$run/train_seconds"
    "$python" -m colorjax.evaluate --checkpoint="$run" --held_out="$run" \
      --resolution="${arm_resolution[$arm]:-128}" \
      --grid_images=0 --out="$run/eval_held_out"
  fi
  table+=("$arm:$run")
done
"$python" benchmarks/encoder_ablations.py --arms="$(IFS=,; echo "${table[*]}")" \
  --out="${OUT:-benchmarks/results/encoder_ablations.json}"

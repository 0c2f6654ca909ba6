#!/usr/bin/env bash
# Trains the reference models of RESULTS.md on a lent GPU in one call, and
# sends them back as bfloat16 exports small enough for $OUT (< 16 MB each).
#
# Prepare on the development machine, from the repository root:
#   ../shared/tools/gpu-wheels.sh .whl            # wheels the GPU image lacks
#   mkdir -p gpu_data && cp -r ../shared/data/train gpu_data/
#   PYTHON=python STEPS=4 CNN_STEPS=2 RUN_SECONDS=300 launch/gpu_reference.sh  # tiny, CPU: 6 min
# then on the device `bash launch/gpu_reference.sh` with carry [".whl", "gpu_data"]
# and a timeout of about 560 s. Back here, unpack and evaluate each model:
#   for m in unet unet_classification unet_gan cnn; do
#     mkdir -p runs/gpu/$m && tar xzf FILES_AT/$m.tar.gz -C runs/gpu/$m
#     python -m colorjax.evaluate --checkpoint=runs/gpu/$m --data=../shared/data/eval/kodak24 \
#       --out=runs/gpu/$m/eval_kodak24 --resolution=128
#   done
# and choose the classification model's decoding on its held-out photos (the
# eval split of gpu_data/train, as in training), then evaluate the export too:
#   python -m colorjax.tune --checkpoint=runs/gpu/unet_classification \
#     --out=runs/gpu/unet_classification/tune --export=runs/gpu/unet_classification_tuned
#
# The runs, each under its own time limit (RUN_SECONDS, so that one slow run
# cannot take the others' time; a run cut short keeps its last checkpoint,
# every 1,000 steps, and its log says so):
#   unet                 photos_unet with widths 32-64-128-256, bottleneck 256 (5.1 M parameters),
#                        96x96 crops, batch 64, bf16, STEPS steps;
#   unet_classification  the same network body with the classification head;
#   unet_gan             the same as the generator of the pix2pix GAN;
#   cnn                  the seed's CNN (photos_cnn.py), CNN_STEPS steps.
# Throughput is estimated, not yet measured (about 100 steps/s for the U-Net
# and 25 for the CNN on an H100 from ANCHORS.md's FLOP rates): check the
# logs' img/s and set STEPS for the next call.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-runs/gpu_reference}"
mkdir -p "$out"
source launch/gpu_env.sh
steps="${STEPS:-8000}"
cnn_steps="${CNN_STEPS:-6000}"
run_seconds="${RUN_SECONDS:-125}"
folder=gpu_data/train
[[ -d "$folder" ]] || folder=../shared/data/train
"$python" -c 'import jax; print(jax.devices())' | tee "$out/devices.txt"

common=(--config.data.folder="$folder" --config.data.num_threads=16
        --config.eval_every_steps=0 --config.checkpoint_every_steps=1000
        --config.log_every_steps=500)
unet=(--config.model.widths='(32,64,128,256)' --config.model.bottleneck=256
      --config.data.image_size=96 --config.global_batch_size=64
      --config.eval.batch_size=64 --config.half_precision=True
      --config.num_train_steps="$steps" --config.opt.warmup_steps="$((steps / 16))")

train() {  # name, config, flags...
  local name=$1 config=$2
  shift 2
  timeout "$run_seconds" "$python" -m colorjax.main --config="$config" \
    --workdir="runs/gpu/$name" "${common[@]}" "$@" > "$out/$name.log" 2>&1
  echo "$name: exit $? after $(grep -o 'step [0-9]*/[0-9]*' "$out/$name.log" | tail -n 1)" \
    | tee -a "$out/summary.txt"
  "$python" -c "from colorjax import checkpoint; checkpoint.export('runs/gpu/$name', 'runs/gpu/$name/export', bfloat16=True)" \
    && tar czf "$out/$name.tar.gz" -C "runs/gpu/$name/export" .
}

train unet configs/photos_unet.py "${unet[@]}"
train unet_classification configs/unet_classification.py "${unet[@]}"
train unet_gan configs/unet_gan.py "${unet[@]}" --config.gan.disc_widths='(64,128,256,512)'
train cnn configs/photos_cnn.py --config.num_train_steps="$cnn_steps" \
  --config.opt.warmup_steps="$((cnn_steps / 10))"
ls -l "$out"

#!/usr/bin/env bash
# One call on a lent GPU (15 minutes of device time a session): the short
# benchmark (benchmarks/gpu.sh --short), then the reference recipes side by
# side (launch/gpu_reference.sh), ending within about 9 minutes, with at most
# 8 files in $OUT: bench.tar.gz, logs.tar.gz and one <variant>.tar.gz export
# per run.
#
# Prepare on the development machine, from the repository root:
#   ../shared/tools/gpu-wheels.sh .whl && mkdir -p .whl_tfds && mv .whl/tensorflow_datasets-* .whl_tfds/
#   python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform any -d .whl tensorboardX     # the GPU image lacks it too
#   mkdir -p gpu_data && cp -r ../shared/data/train ../shared/data/train_more gpu_data/
#   PYTHON=.venv/bin/python SMOKE=1 launch/gpu_session.sh   # the same script, tiny, on the CPU
# (the TFDS wheel stays behind: folders need none, and with it the photos
# would pass the 64 MiB a call carries). Then run `bash launch/gpu_session.sh`
# on the device with carry [".whl", "gpu_data"] and a timeout of 580 s.
#
# The pretrained-encoder recipes (configs/photos_encoder.py) instead: fill
# gpu_data/ with a share of all four photo folders and the encoder's weights,
#   BUDGET_MB=40 WEIGHTS=1 launch/gpu_data.sh
# and run with VARIANTS="photos_encoder:gpu_classification photos_encoder:gpu_hints".
#
# The seed table (configs/cnn.py and configs/unet.py on CIFAR-10, 50,000 steps
# each in the configs): BUDGET_MB=40 CIFAR=1 launch/gpu_data.sh, then on the
# device `DATA=gpu_data/cifar10 UNET_STEPS=N CNN_STEPS=N launch/seed_table.sh`
# with N sized to the call (not yet run on a GPU).
#
# BENCH_SECONDS (default 170; 0: no benchmark) bounds the benchmark, and any
# FLAGS go to every training run. On 2026-11-27 (one H100) the four runs of
# 8,000 steps took about 90 s to start and 3 minutes to train, side by side;
# without the benchmark about 16,000 steps should fit (an estimate from that):
#   BENCH_SECONDS=0 bash launch/gpu_session.sh --config.num_train_steps=16000
set -uo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
out="${OUT:-runs/gpu_session}"
mkdir -p "$out/bench" "$out/train"
if [[ -n "${SMOKE:-}" ]]; then
  OUT="$out/bench" timeout 600 bash benchmarks/gpu.sh --smoke
  # Runs too long to finish: the deadline's SIGTERM ends them, as on the GPU.
  OUT="$out/train" TRAIN_SECONDS=200 bash launch/gpu_reference.sh \
    --config.global_batch_size=4 --config.eval.batch_size=4 \
    --config.log_every_steps=2 --config.classification.prior_images=8
else
  bench_seconds="${BENCH_SECONDS:-170}"
  (( bench_seconds > 0 )) && OUT="$out/bench" timeout "$bench_seconds" bash benchmarks/gpu.sh --short
  # Training gets what is left of 480 s; its exports take about 40 s after.
  OUT="$out/train" TRAIN_SECONDS=$(( 480 - (SECONDS - start) )) bash launch/gpu_reference.sh "$@"
fi
tar czf "$out/bench.tar.gz" -C "$out" bench
tar czf "$out/logs.tar.gz" -C "$out/train" --exclude='*.tar.gz' .
mv "$out"/train/*.tar.gz "$out"/ 2>/dev/null
rm -rf "$out/bench" "$out/train"
ls -l "$out"
echo "session: $(( SECONDS - start )) s"

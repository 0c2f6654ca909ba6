#!/usr/bin/env bash
# The whole GPU comparison in one call on a lent GPU machine (see RESULTS.md).
#
# Prepare on the development machine, from the repository root:
#   ../shared/tools/gpu-wheels.sh .whl            # wheels the GPU image lacks
#   mkdir -p gpu_data && cp -r ../shared/data/train gpu_data/
#   PYTHON=python benchmarks/gpu.sh --smoke       # the same script, tiny, on the CPU
# then run `bash benchmarks/gpu.sh` (or `--short`, inside launch/gpu_session.sh) on the device with carry [".whl", "gpu_data"]
# and a timeout of about 540 s. Results land in $OUT (or benchmarks/results/gpu).
#
# It runs, each framework in its own processes: the train step of colorjax and
# of its PyTorch peer (eager fp32, AMP bf16, torch.compile) for both networks
# at 256 x 32² and 32 x 256²; the input pipelines (folder of JPEGs on 16
# cores, and on-device data); colorize latency by photo size.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/results/gpu}"
mkdir -p "$out"
source launch/gpu_env.sh
"$python" -c 'import jax; print(jax.devices())' | tee "$out/devices.txt"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$out/nvidia-smi.csv" 2>&1 || true

if [[ "${1:-}" == --smoke ]]; then
  cases=cnn:32:4,unet:32:4 steps=2 torch=eager sizes=256x256,1024x768 ip_steps=3
elif [[ "${1:-}" == --short ]]; then  # The U-Net rows of ANCHORS.md (over 170 s on an H100, 2026-11-27).
  cases=unet:256:32,unet:32:256 steps=20 torch=eager,amp
  sizes=256x256,1024x768,2048x1536 ip_steps=20
else
  cases=unet:256:32,unet:32:256,cnn:256:32,cnn:32:256 steps=30 torch=eager,amp,compile
  sizes=256x256,768x512,1024x768,2048x1536,8400x6000 ip_steps=50
fi
folder=gpu_data/train
[[ -d "$folder" ]] || folder=../shared/data/train

"$python" benchmarks/train_step.py --cases="$cases" --dtypes=bf16,fp32 --steps="$steps" \
  --torch="$torch" --out="$out/train_step.json" 2>"$out/train_step.log" | tee "$out/train_step.md"
"$python" benchmarks/input_pipeline.py --folder="$folder" --threads=16 --workers=8 \
  --steps="$ip_steps" --out="$out/input_pipeline.json" 2>"$out/input_pipeline.log" | tail -n 6 | tee "$out/input_pipeline.md"
"$python" benchmarks/colorize.py --sizes="$sizes" --out="$out/colorize.json" \
  2>"$out/colorize.log" | tail -n 9 | tee "$out/colorize.md"

#!/usr/bin/env bash
# Trains on one machine with all of its GPUs (or its CPU when it has none).
#
# One process drives every local device: colorjax maps its per-device train
# step over a mesh of all devices with jax.shard_map, so nothing more is
# needed than the plain command. The global batch (config.global_batch_size)
# is split evenly over the devices and must be a multiple of their count.
#
# Usage:
#   launch/local.sh CONFIG [FLAGS...]
#   launch/local.sh configs/unet.py --config.global_batch_size=256
#   CUDA_VISIBLE_DEVICES=0,1 launch/local.sh configs/photos256.py --config.data.folder=~/photos
set -euo pipefail
if [[ $# -lt 1 ]]; then
  sed -n '2,13p' "$0" >&2
  exit 2
fi
config="$1"
shift
cd "$(dirname "$0")/.."
exec python -m colorjax.main --config="$config" "$@"

#!/usr/bin/env bash
# Runs one training as several processes on this machine, each with its own
# CPU devices: a multi-host run in miniature, for trying out scaling and for
# the tests. The processes find each other through a coordinator at
# 127.0.0.1:PORT (process 0) and exchange gradients through gloo; each loads
# only its own slice of every global batch. Output of all processes goes to
# this terminal; only process 0 writes logs, images and metrics.
#
# Usage:
#   launch/cpu_cluster.sh NUM_PROCESSES DEVICES_PER_PROCESS CONFIG [FLAGS...]
#   launch/cpu_cluster.sh 2 2 configs/quickstart.py --workdir=runs/cluster
# PORT=12345 picks the coordinator port (default: a free one).
# If any process fails, the others are stopped and the exit status is 1.
set -euo pipefail
if [[ $# -lt 3 ]]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
processes="$1" devices="$2" config="$3"
shift 3
cd "$(dirname "$0")/.."
python="${PYTHON:-python}"
port="${PORT:-$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for ((i = 0; i < processes; i++)); do
  JAX_PLATFORMS=cpu JAX_NUM_CPU_DEVICES="$devices" "$python" -m colorjax.main \
    --config="$config" --coordinator_address="127.0.0.1:$port" \
    --num_processes="$processes" --process_id="$i" "$@" &
  pids+=("$!")
done
status=0
for ((i = 0; i < processes; i++)); do
  if ! wait -n; then
    status=1
    kill "${pids[@]}" 2>/dev/null || true
  fi
done
exit "$status"

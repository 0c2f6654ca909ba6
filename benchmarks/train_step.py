"""Benchmarks colorjax's real train step, and its PyTorch peer in separate processes.

  python benchmarks/train_step.py                        # the full matrix, for a GPU
  python benchmarks/train_step.py --torch=eager,amp,compile
  python benchmarks/train_step.py --cases=cnn:32:8,unet:32:8 --dtypes=fp32 --steps=3   # a CPU

Measures the path training runs: a uint8 RGB batch, LAB conversion on the
device, the network, the MSE loss, Adam, inside the shard_map data-parallel
wrapper over all devices (`colorjax.train.make_train_step`). Per case:
images/s, milliseconds per step, analytic FLOPs per step (3 x forward, see
flops.py), TFLOP/s, the fraction of --peak_tflops, and the device's peak
memory. Writes JSON with the machine, versions and date, and prints a table.
"""

import json
import os
import subprocess
import sys
import time

from absl import app
from absl import flags
import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from colorjax import train  # pylint: disable=g-import-not-at-top,wrong-import-position
import common  # pylint: disable=g-import-not-at-top,wrong-import-position
import flops  # pylint: disable=g-import-not-at-top,wrong-import-position

_CASES = flags.DEFINE_string(
    'cases', 'unet:256:32,unet:32:256,cnn:256:32,cnn:32:256',
    'Comma-separated MODEL_OR_CONFIG:IMAGE_SIZE:BATCH: cnn, unet or encoder_unet '
    '(their default sizes, MSE), or a file in configs/ (e.g. photos_unet).')
_DTYPES = flags.DEFINE_string('dtypes', 'bf16,fp32', 'Comma-separated: bf16, fp32.')
_STEPS = flags.DEFINE_integer('steps', 30, 'Timed steps per case.')
_WARMUP = flags.DEFINE_integer('warmup', 3, 'Untimed steps first (compilation).')
_TORCH = flags.DEFINE_string(
    'torch', '', 'PyTorch peer modes to run as well, each in its own process: '
    'eager (fp32), amp (bf16 autocast, channels_last), compile (amp + torch.compile).')
_PEAK = flags.DEFINE_float(
    'peak_tflops', 0.0, 'Dense bf16 peak of the device for the fraction of peak; '
    '0: 790 on an H200 (measured, ../shared/ANCHORS.md), none elsewhere.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/train_step.json', 'Where to write JSON.')

_MEASURED_PEAKS = {'NVIDIA H200': 790.0}  # bf16 TFLOP/s, ../shared/ANCHORS.md.


def _config(model: str, size: int, batch: int, dtype: str):
  config = common.case_config(model, size, batch)
  config.half_precision = dtype == 'bf16'
  return config


def _peak_memory() -> float | None:
  stats = jax.devices()[0].memory_stats() or {}
  peak = stats.get('peak_bytes_in_use')
  return peak / 2**30 if peak else None


def run_case(model_name: str, size: int, batch: int, dtype: str) -> dict:
  """Times the colorjax train step for one case."""
  config = _config(model_name, size, batch, dtype)
  step, state, batch_array, key = common.train_step_case(config, size, batch)
  for _ in range(_WARMUP.value):
    state, metrics = step(state, batch_array, key)
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for _ in range(_STEPS.value):
    state, metrics = step(state, batch_array, key)
  jax.block_until_ready((state, metrics))
  seconds = (time.perf_counter() - start) / _STEPS.value
  step_flops = 3 * flops.forward_flops(
      train.create_model(config), {'params': state.params, 'batch_stats': state.batch_stats},
      size, size, batch)
  return _row('colorjax (JAX)', model_name, size, batch, dtype, seconds, step_flops,
              _peak_memory())


def _row(framework, model, size, batch, dtype, seconds, step_flops, memory_gib):
  peak = _PEAK.value or _MEASURED_PEAKS.get(jax.devices()[0].device_kind)
  tflops = step_flops / seconds / 1e12
  return {'framework': framework, 'model': model, 'size': f'{batch} x {size}²',
          'dtype': dtype, 'images/s': batch / seconds, 'ms/step': seconds * 1e3,
          'TFLOP/step': step_flops / 1e12, 'TFLOP/s': tflops,
          'of peak': f'{100 * tflops / peak:.0f}%' if peak else 'n/a',
          'peak memory GiB': round(memory_gib, 2) if memory_gib else 'n/a'}


def run_torch(mode: str, model: str, size: int, batch: int, step_flops: float) -> dict:
  """Runs torch_peer.py in its own process and turns its timing into a row."""
  peer = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'torch_peer.py')
  network = common.case_config(model, size, batch).model
  shape = (f'--widths={",".join(map(str, network.widths))}', f'--bottleneck={network.bottleneck}',
           f'--cnn_channels={",".join(map(str, network.cnn_channels))}',
           f'--encoder={network.encoder}',
           f'--decoder_widths={",".join(map(str, network.decoder_widths))}')
  result = subprocess.run(
      [sys.executable, peer, f'--mode={mode}', f'--model={network.name}', f'--size={size}',
       f'--batch={batch}', f'--steps={_STEPS.value}', f'--warmup={_WARMUP.value}', *shape],
      capture_output=True, text=True, check=False)
  if result.returncode != 0:
    return {'framework': f'PyTorch {mode}', 'model': model, 'size': f'{batch} x {size}²',
            'dtype': 'error', 'images/s': result.stderr.strip().splitlines()[-1][:120]}
  measured = json.loads(result.stdout.strip().splitlines()[-1])
  dtype = 'fp32' if mode == 'eager' else 'bf16'
  return _row(f'PyTorch {mode} {measured["torch"]}', model, size, batch, dtype,
              measured['seconds'], step_flops, measured['peak_memory_gib'])


def main(argv):
  del argv
  rows, environment = [], common.environment()

  def add(row):  # Written as it comes, so a run cut short keeps its rows.
    rows.append(row)
    common.write(_OUT.value, environment, rows)
    print(common.markdown(rows[-1:], list(rows[-1])), flush=True)

  for case in _CASES.value.split(','):
    model, size, batch = case.split(':')
    size, batch = int(size), int(batch)
    for dtype in _DTYPES.value.split(','):
      add(run_case(model, size, batch, dtype))
    for mode in filter(None, _TORCH.value.split(',')):
      add(run_torch(mode, model, size, batch, rows[-1]['TFLOP/step'] * 1e12))
  print(json.dumps(environment, indent=1))
  print(common.markdown(rows, list(rows[0])))


if __name__ == '__main__':
  app.run(main)

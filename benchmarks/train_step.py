"""Benchmarks colorjax's real train step, and its PyTorch peer in separate processes.

  python benchmarks/train_step.py                        # the full matrix, for a GPU
  python benchmarks/train_step.py --torch=eager,amp,compile
  python benchmarks/train_step.py --cases=cnn:32:8,unet:32:8 --dtypes=fp32 --steps=3   # a CPU
  python benchmarks/train_step.py --cases=encoder_unet:96:16 --dtypes=fp32 --steps=10 \
      --torch=eager,amp --rounds=5   # colorjax against PyTorch on a machine whose speed drifts

Measures the path training runs: a uint8 RGB batch, LAB conversion on the
device, the network, the MSE loss, Adam, inside the shard_map data-parallel
wrapper over all devices (`colorjax.train.make_train_step`). Per case:
images/s, milliseconds per step, analytic FLOPs per step (3 x forward, see
flops.py), TFLOP/s, the fraction of --peak_tflops, and the device's peak
memory. Writes JSON with the machine, versions and date, and prints a table.

With --rounds=N every case's frameworks are timed in turn N times (the
colorjax step compiled once, each PyTorch round a fresh process), and each
row gives the median round, with every round's milliseconds per step and,
for the PyTorch rows, colorjax's step's ratio to it round by round: on a
virtual machine whose speed drifts by 10-20% within minutes, frameworks
timed minutes apart are not compared, rounds side by side are.
"""

import json
import os
import subprocess
import sys
import time

from absl import app
from absl import flags
import jax
import numpy as np

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
_ROUNDS = flags.DEFINE_integer(
    'rounds', 1, 'Times each case\'s frameworks in turn this many times; rows give the '
    'median round (see the module docstring).')
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


def case_timer(model_name: str, size: int, batch: int, dtype: str):
  """Compiles and warms the colorjax train step for one case.

  Returns:
    (time, step_flops, memory_gib): time() runs _STEPS steps and returns
    the seconds per step; memory_gib the device's peak memory or None.
  """
  config = _config(model_name, size, batch, dtype)
  step, state, batch_array, key = common.train_step_case(config, size, batch)
  for _ in range(_WARMUP.value):
    state, metrics = step(state, batch_array, key)
  jax.block_until_ready(metrics)
  step_flops = 3 * flops.forward_flops(
      train.create_model(config), {'params': state.params, 'batch_stats': state.batch_stats},
      size, size, batch)

  def time_steps():
    nonlocal state
    start = time.perf_counter()
    for _ in range(_STEPS.value):
      state, metrics = step(state, batch_array, key)
    jax.block_until_ready((state, metrics))
    return (time.perf_counter() - start) / _STEPS.value

  return time_steps, step_flops, _peak_memory()


def _row(framework, model, size, batch, dtype, seconds, step_flops, memory_gib):
  peak = _PEAK.value or _MEASURED_PEAKS.get(jax.devices()[0].device_kind)
  tflops = step_flops / seconds / 1e12
  return {'framework': framework, 'model': model, 'size': f'{batch} x {size}²',
          'dtype': dtype, 'images/s': batch / seconds, 'ms/step': seconds * 1e3,
          'TFLOP/step': step_flops / 1e12, 'TFLOP/s': tflops,
          'of peak': f'{100 * tflops / peak:.0f}%' if peak else 'n/a',
          'peak memory GiB': round(memory_gib, 2) if memory_gib else 'n/a'}


def torch_seconds(mode: str, model: str, size: int, batch: int):
  """Runs torch_peer.py in its own process: (seconds per step, its JSON line's
  fields) or (None, the error's last line)."""
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
    return None, result.stderr.strip().splitlines()[-1][:120]
  measured = json.loads(result.stdout.strip().splitlines()[-1])
  return measured['seconds'], measured


def main(argv):
  del argv
  rows, environment = [], common.environment()

  def add(row):  # Written as it comes, so a run cut short keeps its rows.
    rows.append(row)
    common.write(_OUT.value, environment, rows)
    print(common.markdown(rows[-1:], list(rows[-1])), flush=True)

  def timed(row, seconds, versus=None):  # The rounds, when there are several.
    if len(seconds) > 1:
      row['ms/step rounds'] = [round(s * 1e3, 1) for s in seconds]
      if versus:  # Above 1: colorjax's step was the faster in that round.
        row['colorjax speed / this, rounds'] = [round(s / v, 3) for s, v in zip(seconds, versus)]
    return row

  for case in _CASES.value.split(','):
    model, size, batch = case.split(':')
    size, batch = int(size), int(batch)
    timers = {dtype: case_timer(model, size, batch, dtype) for dtype in _DTYPES.value.split(',')}
    modes = list(filter(None, _TORCH.value.split(',')))
    seconds = {name: [] for name in list(timers) + modes}
    failed, measured = {}, {}
    for _ in range(_ROUNDS.value):
      for dtype, (time_steps, _, _) in timers.items():
        seconds[dtype].append(time_steps())
      for mode in modes:
        if mode not in failed:
          value, result = torch_seconds(mode, model, size, batch)
          if value is None:
            failed[mode] = result
          else:
            seconds[mode].append(value)
            measured[mode] = result
    median = lambda values: float(np.median(values))
    for dtype, (_, step_flops, memory_gib) in timers.items():
      add(timed(_row('colorjax (JAX)', model, size, batch, dtype, median(seconds[dtype]),
                     step_flops, memory_gib), seconds[dtype]))
    last = list(timers)[-1]  # The PyTorch rows are compared with the last colorjax dtype.
    for mode in modes:
      if mode in failed:
        add({'framework': f'PyTorch {mode}', 'model': model, 'size': f'{batch} x {size}²',
             'dtype': 'error', 'images/s': failed[mode]})
        continue
      add(timed(_row(f'PyTorch {mode} {measured[mode]["torch"]}', model, size, batch,
                     'fp32' if mode == 'eager' else 'bf16', median(seconds[mode]),
                     timers[last][1], measured[mode]['peak_memory_gib']),
                seconds[mode], versus=seconds[last]))
  print(json.dumps(environment, indent=1))
  print(common.markdown(rows, list(dict.fromkeys(k for row in rows for k in row))))


if __name__ == '__main__':
  app.run(main)

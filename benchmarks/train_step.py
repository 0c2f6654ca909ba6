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

With --rounds=N every case's frameworks are timed in turn N times, each
round of each framework in a fresh process (colorjax's compiled program
comes from a persistent cache after the first), and each row gives the
median round, with every round's milliseconds per step and, for the PyTorch
rows, colorjax's step's ratio to it round by round: on a virtual machine
whose speed drifts by 10-20% within minutes, frameworks timed minutes apart
are not compared, rounds side by side are. Fresh processes for both, because
a process that lives on while the other framework's come and go pays for
their memory (on this project's 2-core VM a colorjax process's system time
per step rose from 45 to 210-250 ms after a PyTorch process had run beside
it; the host reclaims the memory a process frees, and the next to touch it
faults it back in).

colorjax is timed as its commands run: started again with malloc on
transparent huge pages where glibc and the kernel allow
(`colorjax.host_memory`; GLIBC_TUNABLES=glibc.malloc.hugetlb=0 opts out).
PyTorch runs with malloc's defaults, which were its faster setting on a CPU
(RESULTS.md); --torch_huge_pages gives it the same tunable.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from colorjax import host_memory  # pylint: disable=g-import-not-at-top,wrong-import-position
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
_TORCH_HUGE_PAGES = flags.DEFINE_bool(
    'torch_huge_pages', False, 'Run the PyTorch peer with malloc on transparent huge pages too '
    '(glibc.malloc.hugetlb=1, as colorjax runs); by default it runs with malloc\'s defaults.')
_MALLOC_DEFAULTS = flags.DEFINE_bool(
    'malloc_defaults_too', False, 'With --rounds: time colorjax with malloc\'s defaults '
    '(GLIBC_TUNABLES=glibc.malloc.hugetlb=0) too, in its own process each round, as a row of its own.')
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


def round_in_own_process(model: str, size: int, batch: int, dtype: str, tunables=None):
  """One colorjax round in a fresh process, as each PyTorch round is:
  (seconds per step, step FLOPs, the device's peak memory in GiB or None).
  tunables: the process's GLIBC_TUNABLES, if not this one's."""
  environ = os.environ if tunables is None else dict(os.environ, GLIBC_TUNABLES=tunables)
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, 'round.json')
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), f'--cases={model}:{size}:{batch}',
         f'--dtypes={dtype}', f'--steps={_STEPS.value}', f'--warmup={_WARMUP.value}',
         '--rounds=1', f'--peak_tflops={_PEAK.value}', f'--out={out}'],
        capture_output=True, text=True, check=False, env=environ)
    if result.returncode != 0:
      raise RuntimeError(f'colorjax round for {model}:{size}:{batch} {dtype} failed:\n'
                         f'{result.stderr[-3000:]}')
    with open(out) as f:
      row = json.load(f)['rows'][0]
  memory = row['peak memory GiB']
  return row['ms/step'] / 1e3, row['TFLOP/step'] * 1e12, None if memory == 'n/a' else memory


def _row(framework, model, size, batch, dtype, seconds, step_flops, memory_gib):
  peak = _PEAK.value or _MEASURED_PEAKS.get(jax.devices()[0].device_kind)
  tflops = step_flops / seconds / 1e12
  return {'framework': framework, 'model': model, 'size': f'{batch} x {size}²',
          'dtype': dtype, 'images/s': batch / seconds, 'ms/step': seconds * 1e3,
          'TFLOP/step': step_flops / 1e12, 'TFLOP/s': tflops,
          'of peak': f'{100 * tflops / peak:.0f}%' if peak else 'n/a',
          'peak memory GiB': round(memory_gib, 2) if memory_gib else 'n/a'}


def torch_tunables() -> str:
  """GLIBC_TUNABLES for the PyTorch peer: this process's, with or without
  malloc's huge pages as --torch_huge_pages says."""
  tunables = os.environ.get('GLIBC_TUNABLES', '')
  return (host_memory.with_huge_pages(tunables) if _TORCH_HUGE_PAGES.value
          else host_memory.without_huge_pages(tunables))


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
      capture_output=True, text=True, check=False,
      env=dict(os.environ, GLIBC_TUNABLES=torch_tunables()))
  if result.returncode != 0:
    return None, result.stderr.strip().splitlines()[-1][:120]
  measured = json.loads(result.stdout.strip().splitlines()[-1])
  return measured['seconds'], measured


def main(argv):
  del argv
  rows, environment = [], common.environment()
  cache = None  # A cache directory this run made, removed at its end.
  if _ROUNDS.value > 1:  # The rounds' processes share their compiled programs.
    if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
      cache = tempfile.mkdtemp(prefix='train-step-xla-cache-')
      os.environ['JAX_COMPILATION_CACHE_DIR'] = cache
    os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
  try:
    _run_cases(rows, environment)
  finally:
    if cache:
      shutil.rmtree(cache, ignore_errors=True)
  print(json.dumps(environment, indent=1))
  print(common.markdown(rows, list(dict.fromkeys(k for row in rows for k in row))))


def _run_cases(rows: list, environment: dict) -> None:
  """Times every case of --cases, adding its rows to `rows` (and --out) as they come."""
  if _TORCH.value:
    environment['PyTorch GLIBC_TUNABLES'] = torch_tunables()

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
    dtypes = _DTYPES.value.split(',')
    if _ROUNDS.value == 1:  # In this process.
      timers = {dtype: case_timer(model, size, batch, dtype) for dtype in dtypes}
      time_round = lambda dtype: (timers[dtype][0](), *timers[dtype][1:])
    else:
      time_round = lambda dtype: round_in_own_process(model, size, batch, dtype)
    defaults = {f'{dtype}, malloc defaults': dtype for dtype in dtypes
                if _MALLOC_DEFAULTS.value and _ROUNDS.value > 1}
    modes = list(filter(None, _TORCH.value.split(',')))
    seconds = {name: [] for name in [*dtypes, *defaults, *modes]}
    step_flops, memory_gib = {}, {}
    failed, measured = {}, {}
    for _ in range(_ROUNDS.value):
      for dtype in dtypes:
        value, step_flops[dtype], memory_gib[dtype] = time_round(dtype)
        seconds[dtype].append(value)
      for name, dtype in defaults.items():
        seconds[name].append(round_in_own_process(
            model, size, batch, dtype,
            host_memory.with_huge_pages(os.environ.get('GLIBC_TUNABLES', ''), on=False))[0])
      for mode in modes:
        if mode not in failed:
          value, result = torch_seconds(mode, model, size, batch)
          if value is None:
            failed[mode] = result
          else:
            seconds[mode].append(value)
            measured[mode] = result
    median = lambda values: float(np.median(values))
    for dtype in dtypes:
      add(timed(_row('colorjax (JAX)', model, size, batch, dtype, median(seconds[dtype]),
                     step_flops[dtype], memory_gib[dtype]), seconds[dtype]))
    for name, dtype in defaults.items():
      add(timed(_row('colorjax (JAX), malloc defaults', model, size, batch, dtype,
                     median(seconds[name]), step_flops[dtype], memory_gib[dtype]),
                seconds[name], versus=seconds[dtype]))
    last = dtypes[-1]  # The PyTorch rows are compared with the last colorjax dtype.
    for mode in modes:
      if mode in failed:
        add({'framework': f'PyTorch {mode}', 'model': model, 'size': f'{batch} x {size}²',
             'dtype': 'error', 'images/s': failed[mode]})
        continue
      add(timed(_row(f'PyTorch {mode} {measured[mode]["torch"]}', model, size, batch,
                     'fp32' if mode == 'eager' else 'bf16', median(seconds[mode]),
                     step_flops[last], measured[mode]['peak_memory_gib']),
                seconds[mode], versus=seconds[last]))


if __name__ == '__main__':
  host_memory.run_again_with_huge_pages()  # As the training command does, before JAX starts.
  app.run(main)

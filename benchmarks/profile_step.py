"""Where a train step's time goes: a per-layer and per-op profile of the real step.

  python benchmarks/profile_step.py --cases=cnn:32:32,unet:32:32,photos_unet:64:32

A case is MODEL_OR_CONFIG:IMAGE_SIZE:BATCH, where MODEL_OR_CONFIG is 'cnn' or
'unet' (configs/default.py with that network) or the name of a file in
configs/ (e.g. photos_unet). Each case runs `train.make_train_step` (LAB
conversion, network, loss, Adam, the data-parallel wrapper) under
`jax.profiler.trace`, reads back the XLA operations the runtime executed and
their durations, and attributes each one to the network layer it came from
(the HLO op's metadata names the flax module path) and to a kind of operation
(convolution, matrix product, fusion, reduce-window, ...). Prints both tables,
as shares of the step's total, and writes them with the machine, versions
and date to --out.
"""

import collections
import glob
import os
import re
import sys
import tempfile
import time

from absl import app
from absl import flags
import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from colorjax import host_memory  # pylint: disable=g-import-not-at-top,wrong-import-position
import common  # pylint: disable=g-import-not-at-top,wrong-import-position

_CASES = flags.DEFINE_string('cases', 'cnn:32:32,unet:32:32,photos_unet:64:32',
                             'Comma-separated MODEL_OR_CONFIG:IMAGE_SIZE:BATCH.')
_STEPS = flags.DEFINE_integer('steps', 3, 'Profiled steps per case.')
_TOP = flags.DEFINE_integer('top', 12, 'Rows of each table to print.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/profile_step.json', 'Where to write JSON.')


def _op_layers(compiled_text: str) -> dict[str, str]:
  """Each instruction of the compiled program's entry computation (what the
  runtime executes) -> the flax layer it computes, from its op_name metadata
  ('(no metadata)' where XLA kept none, e.g. some multi-output fusions)."""
  entry = compiled_text[compiled_text.index('\nENTRY'):]
  entry = entry[:entry.index('\n}')]
  layers = {}
  for line in entry.splitlines():
    match = re.match(r'\s*(?:ROOT )?%?([\w.\-]+) = (\S+)', line)
    if match:
      op_name = re.search(r'op_name="([^"]*)"', line)
      layers[match.group(1)] = (_layer(op_name.group(1)) if op_name
                                else _unnamed(match.group(1), match.group(2)))
  return layers


def _unnamed(op: str, shape: str) -> str:
  """A name for an instruction without metadata, from its kind and shape."""
  kernel = re.fullmatch(r'f32\[(\d+),(\d),(\d),(\d+)\]\S*', shape)
  if kernel and kernel.group(2) == kernel.group(3):  # [out, k, k, in]: a kernel's gradient.
    size = kernel.group(2)
    return f'(gradients of {size}x{size} kernels, {kernel.group(4)} -> {kernel.group(1)})'
  if op.startswith('transpose') or op.startswith('copy'):
    return '(layout transposes and copies)'
  return '(no metadata)'


def _layer(op_name: str) -> str:
  """'jit(f)/.../transpose(jvp(UNet))/down0/conv1/conv_general_dilated' -> 'down0/conv1'."""
  parts = [p for p in op_name.split('/') if p][:-1]  # The last is the primitive.
  if any(re.fullmatch(r'(?:\w+\()*loss\)*', p) for p in parts):  # The task's named scope.
    return '(loss)'
  modules = [p for p in parts
             if re.fullmatch(r'(down|up|upsample|norm|conv|bottleneck|head|encoder|block|stem|'
                             r'expand|depthwise|project|full_res|hint|level)\w*', p)]
  if modules:
    return '/'.join(modules)
  if any('rgb_to_lab' in p or 'normalize' in p for p in parts):
    return '(LAB conversion)'
  if any(p.startswith(('adam', 'scale_by', 'apply_updates')) for p in parts):
    return '(Adam)'
  return '(other)'


def _role(layer: str) -> str:
  """A layer with its encoder block left out ('encoder/block7/depthwise_conv' ->
  'encoder/depthwise_conv'): what the same kind of layer costs over all blocks."""
  return re.sub(r'/block\d+', '', layer)


def _kind(op: str) -> str:
  """The kind of an HLO instruction from its name (convolution.3 -> convolution)."""
  base = re.sub(r'[.\d]+$', '', op.split('.')[0])
  return base or op


def profile_case(name: str, size: int, batch: int) -> dict:
  """Profiles one case; returns its rows and totals."""
  config = common.case_config(name, size, batch)
  step, state, batch_array, key = common.train_step_case(config, size, batch)
  layers = _op_layers(step.lower(state, batch_array, key).compile().as_text())
  for _ in range(2):
    state, metrics = step(state, batch_array, key)
  jax.block_until_ready(metrics)
  with tempfile.TemporaryDirectory() as trace_dir:
    start = time.perf_counter()
    with jax.profiler.trace(trace_dir):
      for _ in range(_STEPS.value):
        state, metrics = step(state, batch_array, key)
      jax.block_until_ready((state, metrics))
    seconds = (time.perf_counter() - start) / _STEPS.value
    [path] = glob.glob(os.path.join(trace_dir, '**', '*.xplane.pb'), recursive=True)
    profile = jax.profiler.ProfileData.from_file(path)
  by_layer, by_role, by_kind = collections.Counter(), collections.Counter(), collections.Counter()
  for plane in profile.planes:
    for line in plane.lines:
      for event in line.events:
        if event.name in layers:  # An HLO instruction the runtime executed.
          by_layer[layers[event.name]] += event.duration_ns
          by_role[_role(layers[event.name])] += event.duration_ns
          by_kind[_kind(event.name)] += event.duration_ns
  total = sum(by_kind.values())
  as_rows = lambda counter, key: [
      {key: k, 'ms/step': v / 1e6 / _STEPS.value, 'share': f'{100 * v / total:.1f}%'}
      for k, v in counter.most_common()]
  return {'case': f'{name} {batch} x {size}²', 'ms/step (wall, profiled)': seconds * 1e3,
          'ms/step (sum of ops)': total / 1e6 / _STEPS.value,
          'layers': as_rows(by_layer, 'layer'), 'roles': as_rows(by_role, 'role'),
          'kinds': as_rows(by_kind, 'op kind')}


def main(argv):
  del argv
  results = []
  for case in _CASES.value.split(','):
    name, size, batch = case.split(':')
    result = profile_case(name, int(size), int(batch))
    results.append(result)
    print(f'\n## {result["case"]}: {result["ms/step (wall, profiled)"]:.0f} ms/step wall, '
          f'{result["ms/step (sum of ops)"]:.0f} ms in XLA ops')
    for table, key in (('kinds', 'op kind'), ('roles', 'role'), ('layers', 'layer')):
      print(common.markdown(result[table][:_TOP.value], [key, 'ms/step', 'share']))
    sys.stdout.flush()
  environment = common.environment()
  common.write(_OUT.value, environment, results)


if __name__ == '__main__':
  host_memory.run_again_with_huge_pages()  # As the training command does, before JAX starts.
  app.run(main)

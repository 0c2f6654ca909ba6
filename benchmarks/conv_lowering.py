"""Times each 3x3 convolution of colorjax's networks under every lowering.

  python benchmarks/conv_lowering.py --batch=32

For the convolutions of the seed CNN and the default U-Net at 32x32 and of
configs/photos_unet.py at 64x64 (distinct shapes only), times the value and
gradient (input and kernel) of one convolution, jitted, for each lowering
that `colorjax.models` can choose (see `lowering.conv_lowering`):
  'xla'       lax.conv_general_dilated, XLA's convolution;
  'im2col'    the 9 shifted copies side by side, one matrix product;
  'winograd'  Winograd F(2x2, 3x3): 16 matrix products on transformed tiles.
Writes milliseconds per shape and lowering, with the machine, versions and
date, to --out and prints the table; this is the measurement behind the
rule in `lowering.conv_lowering`.

  python benchmarks/conv_lowering.py --depthwise --size=128 \
      --out=benchmarks/results/cpu_depthwise_lowering.json

times instead the depthwise convolutions of EfficientNet-Lite0 at a
--size x --size input (the encoder of models.EncoderUNet), XLA's grouped
convolution against the shifted multiply-adds of `lowering.depthwise_lowering`,
with its own gradient ('shifted', what colorjax runs) and with the gradient
that automatic differentiation gives ('autodiff'); --pointwise its 1x1 expand
and project layers, XLA's convolution against one matrix product ('im2col').
"""

import contextlib
import functools
import os
import sys
import time

from absl import app
from absl import flags
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from colorjax import lowering  # pylint: disable=g-import-not-at-top,wrong-import-position
import common  # pylint: disable=g-import-not-at-top,wrong-import-position

_BATCH = flags.DEFINE_integer('batch', 32, 'Batch size.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed calls per shape and lowering (the median counts).')
_DEPTHWISE = flags.DEFINE_bool('depthwise', False, "EfficientNet-Lite0's depthwise layers instead.")
_POINTWISE = flags.DEFINE_bool('pointwise', False,
                               "EfficientNet-Lite0's 1x1 expand and project layers instead.")
_SIZE = flags.DEFINE_integer('size', 128, 'Input side for --depthwise and --pointwise.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/cpu_conv_lowering.json', 'Where to write JSON.')


def network_shapes() -> list[tuple[int, int, int]]:
  """Distinct (spatial size, in channels, out channels) of the 3x3 convolutions."""
  shapes = []
  cnn = (1, 64, 128, 256, 512, 256, 128, 64, 2)
  shapes += [(32, a, b) for a, b in zip(cnn, cnn[1:])]
  for size, widths, bottleneck in ((32, (64, 128, 256, 512), 1024),
                                   (64, (16, 32, 64, 128), 256)):
    ins = (1,) + widths[:-1]
    for level, (cin, width) in enumerate(zip(ins, widths)):
      spatial = size >> level
      shapes += [(spatial, cin, width), (spatial, width, width),  # Down block.
                 (spatial, 2 * width, width)]  # Up block (after the concatenation).
    spatial = size >> len(widths)
    shapes += [(spatial, widths[-1], bottleneck), (spatial, bottleneck, bottleneck)]
  return sorted(set(shapes), key=lambda s: (-s[0], s[1], s[2]))


def time_lowering(kind: str, spatial: int, cin: int, cout: int, kernel: int = 3) -> float:
  """Median milliseconds of value and gradient of one convolution."""
  key_x, key_w = jax.random.split(jax.random.key(0))
  x = jax.random.normal(key_x, (_BATCH.value, spatial, spatial, cin))
  w = jax.random.normal(key_w, (kernel, kernel, cin, cout)) * 0.1
  conv = functools.partial(lowering.conv_general_dilated, lowering=kind)
  loss = lambda x, w: jnp.sum(jnp.sin(conv(x, w, (1, 1), 'SAME', dimension_numbers=(
      'NHWC', 'HWIO', 'NHWC'))))
  step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
  jax.block_until_ready(step(x, w))
  times = []
  for _ in range(_REPEATS.value):
    start = time.perf_counter()
    jax.block_until_ready(step(x, w))
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times))


def pointwise_shapes(size: int) -> list[tuple[int, int, int]]:
  """Distinct (input side, in, out) of Lite0's 1x1 expand and project layers."""
  from colorjax import efficientnet  # pylint: disable=g-import-not-at-top
  shapes, side, channels = [], size // 2, efficientnet.STEM
  for repeats, _, stride, expansion, out in efficientnet.stages('lite0'):
    for r in range(repeats):
      if expansion != 1:
        shapes.append((side, channels, channels * expansion))
      side //= stride if r == 0 else 1
      shapes.append((side, channels * expansion, out))
      channels = out
  return sorted(set(shapes), key=lambda s: (-s[0], s[1], s[2]))


def pointwise_rows() -> list[dict]:
  rows = []
  for side, cin, cout in pointwise_shapes(_SIZE.value):
    row = {'spatial': f'{side}x{side}', 'in -> out': f'{cin} -> {cout}'}
    for kind in ('xla', 'im2col'):
      row[f'{kind} ms'] = time_lowering(kind, side, cin, cout, kernel=1)
    row['chosen'] = lowering.conv_lowering(side, side, cin, cout, 'cpu', kernel=(1, 1))
    rows.append(row)
    print(common.markdown(rows[-1:], list(row)), flush=True)
  return rows


def depthwise_shapes(size: int) -> list[tuple[int, int, int, int]]:
  """Distinct (input side, channels, kernel, stride) of Lite0's depthwise layers."""
  from colorjax import efficientnet  # pylint: disable=g-import-not-at-top
  shapes, side, channels = [], size // 2, efficientnet.STEM
  for repeats, kernel, stride, expansion, out in efficientnet.stages('lite0'):
    for r in range(repeats):
      shapes.append((side, channels * expansion, kernel, stride if r == 0 else 1))
      side //= stride if r == 0 else 1
      channels = out
  return sorted(set(shapes), key=lambda s: (-s[0], s[1]))


def time_depthwise(kind: str, side: int, channels: int, kernel: int, stride: int) -> float:
  """Median milliseconds of value and both gradients of one depthwise layer."""
  key_x, key_w = jax.random.split(jax.random.key(0))
  x = jax.random.normal(key_x, (_BATCH.value, side, side, channels))
  w = jax.random.normal(key_w, (kernel, kernel, 1, channels)) * 0.1
  conv = lambda x, w: lowering.conv_general_dilated(
      x, w, (stride, stride), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
      feature_group_count=channels)
  if kind == 'autodiff':
    padding = lax.padtype_to_pads((side, side), (kernel, kernel), (stride, stride), 'SAME')
    conv = lambda x, w: lowering._depthwise_shifted(  # pylint: disable=protected-access
        x, w, (stride, stride), tuple(tuple(p) for p in padding))
  step = jax.jit(jax.value_and_grad(lambda x, w: jnp.sum(jnp.sin(conv(x, w))), argnums=(0, 1)))
  with lowering.forced_lowering('xla') if kind == 'xla' else contextlib.nullcontext():
    return _median_ms(step, x, w)


def _median_ms(step, *args) -> float:
  jax.block_until_ready(step(*args))
  times = []
  for _ in range(_REPEATS.value):
    start = time.perf_counter()
    jax.block_until_ready(step(*args))
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times))


def depthwise_rows() -> list[dict]:
  rows = []
  for side, channels, kernel, stride in depthwise_shapes(_SIZE.value):
    row = {'input': f'{side}x{side}x{channels}', 'kernel': f'{kernel}x{kernel}',
           'stride': stride}
    for kind in ('xla', 'autodiff', 'shifted'):
      row[f'{kind} ms'] = time_depthwise(kind, side, channels, kernel, stride)
    row['chosen'] = lowering.depthwise_lowering('cpu')
    rows.append(row)
    print(common.markdown(rows[-1:], list(row)), flush=True)
  return rows


def main(argv):
  del argv
  if _DEPTHWISE.value or _POINTWISE.value:
    rows = depthwise_rows() if _DEPTHWISE.value else pointwise_rows()
    common.write(_OUT.value, {**common.environment(), 'batch': _BATCH.value,
                              'size': _SIZE.value}, rows)
    print(common.markdown(rows, list(rows[0])))
    return
  rows = []
  for spatial, cin, cout in network_shapes():
    row = {'spatial': f'{spatial}x{spatial}', 'in -> out': f'{cin} -> {cout}'}
    for kind in lowering.LOWERINGS:
      row[f'{kind} ms'] = time_lowering(kind, spatial, cin, cout)
    best = min(lowering.LOWERINGS, key=lambda k: row[f'{k} ms'])
    row['fastest'] = best
    row['chosen'] = lowering.conv_lowering(spatial, spatial, cin, cout, 'cpu')
    rows.append(row)
    print(common.markdown(rows[-1:], list(row)), flush=True)
  environment = common.environment()
  common.write(_OUT.value, {**environment, 'batch': _BATCH.value}, rows)
  print(common.markdown(rows, list(rows[0])))


if __name__ == '__main__':
  app.run(main)

"""Benchmarks colorizing one photo, by photo size: latency after compilation, and memory.

  python benchmarks/colorize.py --checkpoint=runs/photos_unet --resolution=128
  python benchmarks/colorize.py                       # the default U-Net, random weights
  python benchmarks/colorize.py --checkpoint=runs/photos_unet_hints --resolution=128 \
      --sizes=1024x768 --hints=10 --out=benchmarks/results/colorize_hints.json

The full path of `colorjax.colorize.Colorizer.colorize`: lightness at full
size, ab predicted at the working resolution, upsampled, joined with L,
gamut-fitted. Each size is run once to compile, then timed --repeats times
(the median is reported). The last size is the 50-megapixel photo the
colorize issue asks to fit in 4 GB; peak host memory (RSS) and, on GPUs,
peak device memory are reported after it. Writes JSON with the machine,
versions and date.
"""

import os
import resource
import statistics
import sys
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from colorjax import colorize  # pylint: disable=wrong-import-position
from colorjax import inference  # pylint: disable=wrong-import-position
from colorjax import models  # pylint: disable=wrong-import-position
import common  # pylint: disable=wrong-import-position

_CHECKPOINT = flags.DEFINE_string('checkpoint', None, 'Model to time; default: the default U-Net, random weights.')
_RESOLUTION = flags.DEFINE_string('resolution', '256', 'Working resolution: pixels or native.')
_SIZES = flags.DEFINE_string('sizes', '256x256,768x512,1024x768,2048x1536,8400x6000',
                             'Comma-separated WIDTHxHEIGHT.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed runs per size (fewer above 10 MP).')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/colorize.json', 'JSON output.')
_HINTS = flags.DEFINE_integer(
    'hints', 0, 'With a hint-conditioned model: colour hints per call, moved a '
    'little every call as on the page (one re-colorization per change).')


def _model():
  if _CHECKPOINT.value:
    model, variables, info = inference.load_model(_CHECKPOINT.value)
    return model, variables, f'{info["path"]} (step {info["step"]})'
  model = models.UNet()
  variables = jax.jit(lambda k: model.init(k, jnp.zeros((1, 64, 64, 1)), train=False))(
      jax.random.key(0))
  return model, variables, 'default U-Net (31 M parameters), random weights'


def main(argv):
  del argv
  model, variables, name = _model()
  colorizer = colorize.Colorizer(model, variables)
  resolution = colorize.parse_resolution(_RESOLUTION.value)
  rows = []
  for size in _SIZES.value.split(','):
    width, height = (int(x) for x in size.split('x'))
    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    rng = np.random.default_rng(1)
    points = lambda: [(int(rng.integers(width)), int(rng.integers(height)), (200, 40, 40))
                      for _ in range(_HINTS.value)] or None
    start = time.perf_counter()
    colorizer.colorize(rgb, resolution, hints=points())
    first = time.perf_counter() - start
    repeats = _REPEATS.value if width * height <= 10e6 else 1
    times = []
    for _ in range(repeats):
      given = points()
      start = time.perf_counter()
      colorizer.colorize(rgb, resolution, hints=given)
      times.append(time.perf_counter() - start)
    rows.append({'photo': f'{width}x{height}', 'megapixels': width * height / 1e6,
                 'first call s': first, 'latency s (median)': statistics.median(times)})
    print(common.markdown(rows[-1:], list(rows[-1])), flush=True)
  stats = jax.devices()[0].memory_stats() or {}
  environment = common.environment()
  environment.update(model=name, resolution=resolution, hints=_HINTS.value,
                     peak_host_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                     peak_device_gib=stats.get('peak_bytes_in_use', 0) / 2**30 or None)
  common.write(_OUT.value, environment, rows)
  print(environment)
  print(common.markdown(rows, list(rows[0])))


if __name__ == '__main__':
  app.run(main)

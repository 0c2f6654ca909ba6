"""Benchmarks the training input paths: host pipelines by source, and on-device data.

  python benchmarks/input_pipeline.py --folder=../shared/data/train
  python benchmarks/input_pipeline.py --folder=DIR --tfds_name=cifar10 --threads=16 --workers=8

Images per second delivered as training batches (decode, resize, crop, flip),
for: a folder of JPEGs through the grain host pipeline; a prepared TFDS
dataset (if --tfds_name names one that is prepared here); and the on-device
path (the set in device memory, batches gathered on the device). Writes JSON
with the machine, versions and date, and prints a table.
"""

import os
import sys
import time

from absl import app
from absl import flags
import jax
import ml_collections
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from colorjax import images  # pylint: disable=wrong-import-position
from colorjax import input_pipeline as ip  # pylint: disable=wrong-import-position
from colorjax import parallel  # pylint: disable=wrong-import-position
from colorjax import sources  # pylint: disable=wrong-import-position
from configs import default  # pylint: disable=wrong-import-position
import common  # pylint: disable=wrong-import-position

_FOLDER = flags.DEFINE_string('folder', '../shared/data/train', 'Folder of JPEGs.')
_TFDS = flags.DEFINE_string('tfds_name', '', 'A prepared TFDS dataset to read as well.')
_SIZE = flags.DEFINE_integer('size', 64, 'Crop size.')
_BATCH = flags.DEFINE_integer('batch', 64, 'Batch size.')
_STEPS = flags.DEFINE_integer('steps', 30, 'Batches timed per path.')
_THREADS = flags.DEFINE_integer('threads', 8, 'Host threads (config.data.num_threads).')
_WORKERS = flags.DEFINE_integer('workers', 0, 'grain worker processes.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/input_pipeline.json', 'JSON output.')


def _data_config(**overrides) -> ml_collections.ConfigDict:
  config = default.get_config().data
  config.image_size, config.num_threads, config.num_workers = _SIZE.value, _THREADS.value, _WORKERS.value
  config.update(overrides)
  return config


def _time(batches, count: int, warmup: int = 1) -> float:
  for _ in range(warmup):  # Start-up and what it buffered are not timed.
    next(batches)
  start = time.perf_counter()
  for _ in range(count):
    jax.block_until_ready(next(batches))
  return count * _BATCH.value / (time.perf_counter() - start)


def _host(name, config, split='train') -> dict:
  source = sources.open_source(config, split)
  indices = np.arange(len(source))
  # The batches the pipeline prepares during start-up (grain's prefetch
  # buffer of config.prefetch batches, per worker process) arrive at once:
  # drained untimed, or 20 timed batches of 8 workers' buffers measure nothing.
  warmup = config.prefetch * max(1, config.num_workers) + config.num_threads + 1
  batches = ip.train_batches(config, source, indices, global_batch=_BATCH.value,
                             start_step=0, num_steps=warmup + _STEPS.value, seed=0)
  return {'path': name, 'images': len(source),
          'images/s': _time(batches, _STEPS.value, warmup)}


def _device(name, config) -> dict:
  source = sources.open_source(config, 'train')
  indices = np.arange(len(source))
  mesh = parallel.make_mesh()
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(parallel.AXIS))
  dataset = ip.DeviceDataset(config, source, indices, seed=0, global_batch=_BATCH.value,
                             sharding=sharding)
  batches = (dataset.batch(step) for step in range(_STEPS.value + 1))
  return {'path': name, 'images': len(source), 'images/s': _time(batches, _STEPS.value)}


def main(argv):
  del argv
  rows = [_host(f'host: folder of JPEGs ({_THREADS.value} threads, {_WORKERS.value} workers)',
                _data_config(source='folder', folder=_FOLDER.value, eval_fraction=0.0))]
  if _TFDS.value:
    rows.append(_host(f'host: TFDS {_TFDS.value}',
                      _data_config(source='tfds', tfds_name=_TFDS.value)))
    rows.append(_device(f'on device: TFDS {_TFDS.value}',
                        _data_config(source='tfds', tfds_name=_TFDS.value)))
  else:
    # Same-size images for the on-device path: the folder, centre-cropped once.
    rows.append(_device('on device: the folder, as same-size images', _square_folder()))
  environment = common.environment()
  common.write(_OUT.value, environment, rows)
  print(environment)
  print(common.markdown(rows, ['path', 'images', 'images/s']))


def _square_folder():
  """A copy of --folder's images centre-cropped to 96x96 PNGs in a temporary folder."""
  import tempfile  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  folder = tempfile.mkdtemp(prefix='colorjax_square_')
  source = images.FileSource(images.list_images(_FOLDER.value))
  for i in range(len(source)):
    Image.fromarray(ip.center_crop(images.fit_size(source.load(i), 96, 96), 96)).save(
        os.path.join(folder, f'{i:05d}.png'))
  return _data_config(source='folder', folder=folder, eval_fraction=0.0)


if __name__ == '__main__':
  app.run(main)

"""The empirical ab prior of a data source, for class rebalancing.

  python -m colorjax.prior --config=configs/unet_classification.py --out=prior.npz

counts, over the training split of the config's data source (any source:
tfds, folder, sample), how many pixels fall in each ab bin of
`colorjax.classification`, and stores the counts with their bins in an .npz.
Point `config.classification.prior` at the file to reuse it; with that field
empty, training computes the prior at its first start and keeps it in
`<workdir>/ab_prior.npz`, so a resumed run reuses the same weights.

Images are read whole at the size training crops them from
(`data.resize_shorter`), without augmentation; `--max_images` (default
`config.classification.prior_images`) spreads the count over that many
evenly spaced images of a large set.
"""

import os
import time
import types

from absl import flags
from absl import logging
import jax
from ml_collections import config_flags
import numpy as np

from colorjax import classification
from colorjax import command
from colorjax import images
from colorjax import sources

PRIOR_FILE = 'ab_prior.npz'


def _images(data_config, source, indices):
  for index in indices:
    rgb = source.load(int(index))
    yield images.fit_size(rgb, data_config.image_size, data_config.resize_shorter)


def compute(config, source, indices, *, max_images: int | None = None):
  """Bin counts of the source's images at `indices` (evenly thinned to
  `max_images`), float64 [Q]."""
  max_images = max_images or config.classification.prior_images
  if len(indices) > max_images:
    indices = indices[np.linspace(0, len(indices) - 1, max_images).astype(int)]
  start = time.time()
  counts = classification.compute_prior(
      _images(config.data, source, indices), classification.ab_bins())
  logging.info('ab prior: %d pixels of %d images in %.1f s; %d of %d bins '
               'occupied.', counts.sum(), len(indices), time.time() - start,
               np.count_nonzero(counts), len(counts))
  return counts, len(indices)


def class_weights(config, workdir: str, source, indices) -> np.ndarray:
  """The rebalancing weights for training: from config.classification.prior,
  else from <workdir>/ab_prior.npz, else computed now and stored there.

  Raises:
    ValueError: the named prior file is missing or was made for other bins.
  """
  cls, bins = config.classification, classification.ab_bins()
  if not cls.rebalance:
    return np.ones(len(bins), np.float32)
  path = cls.prior or os.path.join(workdir, PRIOR_FILE)
  if os.path.exists(path):
    counts = classification.load_prior(path, bins)
    logging.info('ab prior from %s.', path)
  elif cls.prior:
    raise ValueError(
        f'config.classification.prior names {cls.prior}, which does not exist; '
        'compute it with python -m colorjax.prior, or set it to "" to compute '
        'the prior in the run directory.')
  else:
    counts, counted = compute(config, source, indices)
    if jax.process_index() == 0:
      classification.save_prior(path, counts, bins, images=counted,
                                source=_describe(config.data))
  return classification.rebalance_weights(counts, bins, mix=cls.mix,
                                          sigma=cls.prior_sigma)


def _describe(data_config) -> str:
  if data_config.source == 'tfds':
    return f'tfds:{data_config.tfds_name}:{data_config.train_split}'
  if data_config.source == 'folder':
    return f'folder:{data_config.folder}'
  return data_config.source


def _define_flags():
  """The command's flags; defined only when this module runs as the program."""
  return types.SimpleNamespace(
      config=config_flags.DEFINE_config_file(
          'config', None, 'Training config whose data source (train split) to count.'),
      out=flags.DEFINE_string('out', PRIOR_FILE, 'Where to write the .npz.'),
      max_images=flags.DEFINE_integer(
          'max_images', None, 'Images to count (default: '
          'config.classification.prior_images).'))


def main(argv, args) -> int:
  config, out, max_images = args.config.value, args.out, args.max_images
  if config is None:
    raise ValueError('pass --config=CONFIG_FILE (its data section names the source).')
  source = sources.open_source(config.data, 'train')
  indices = sources.scan(source, gray_threshold=config.data.gray_threshold, name='train')
  counts, counted = compute(config, source, indices, max_images=max_images.value)
  bins = classification.ab_bins()
  classification.save_prior(out.value, counts, bins, images=counted,
                            source=_describe(config.data))
  probabilities = counts / counts.sum()
  top = np.argsort(probabilities)[::-1][:3]
  print(f'{out.value}: {int(counts.sum())} pixels of {counted} images over '
        f'{len(bins)} bins ({np.count_nonzero(counts)} occupied); most common '
        + ', '.join(f'ab {tuple(int(x) for x in bins[i])} {probabilities[i]:.1%}'
                    for i in top))
  return 0


def cli():
  """`colorjax-prior` (installed with the package): the same as `python -m colorjax.prior`."""
  command.run(__name__, main, _define_flags)


if __name__ == '__main__':
  cli()

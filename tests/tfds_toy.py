"""A TFDS dataset that "downloads" from a local file, for the preparation
tests: `install(archive, log)` replaces TFDS's URL fetch with a copy of
`archive` and notes every fetch in `log`; no network is touched.

Its images are a uint8 Tensor feature, which TFDS writes without TensorFlow
(its Image feature encodes PNGs with TensorFlow).
"""

import os
import shutil

import numpy as np
import tensorflow_datasets as tfds

URL = 'https://colorjax.invalid/toy_photos.npz'
NAME = 'colorjax_toy_photos'
SIZE = 16


class ColorjaxToyPhotos(tfds.core.GeneratorBasedBuilder):
  """Colour squares: 'train' and 'test' splits from one archive."""
  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        'image': tfds.features.Tensor(shape=(SIZE, SIZE, 3), dtype=np.uint8)}))

  def _split_generators(self, dl_manager):
    path = dl_manager.download(URL)
    return {split: self._generate_examples(path, split) for split in ('train', 'test')}

  def _generate_examples(self, path, split):
    with np.load(path) as archive:
      photos = archive[split]
    for index, photo in enumerate(photos):
      if split == 'train' and index == int(os.environ.get('TOY_DIE_AT', -1)):
        os._exit(3)  # Killed mid-preparation. pylint: disable=protected-access
      yield index, {'image': photo}


def write_archive(path: str, train: int = 12, test: int = 4) -> None:
  """The archive the fake URL serves: colourful random squares."""
  rng = np.random.default_rng(0)
  np.savez(path, **{split: rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
                    for split, n in (('train', train), ('test', test))})


def install(archive: str, log: str) -> None:
  """TFDS's downloads of URL become copies of `archive`; each is noted in `log`."""
  def download(self, url_or_urls):
    assert url_or_urls == URL, url_or_urls
    with open(log, 'a') as f:
      f.write(f'{os.getpid()}\n')
    target = os.path.join(self._download_dir, 'toy_photos.npz')  # pylint: disable=protected-access
    os.makedirs(self._download_dir, exist_ok=True)  # pylint: disable=protected-access
    shutil.copy(archive, target)
    return target
  tfds.download.DownloadManager.download = download

"""TFDS datasets prepared on first use, as `tfds.load` does, for
`tfds.data_source` to read (config.data.tfds_download, on by default).

`ensure(name, data_dir)` returns at once when the dataset is prepared in
`data_dir`; otherwise it downloads and prepares it there (array_record, with
TFDS's progress bars), once:
- TFDS writes into a temporary `incomplete.*` folder and renames it when
  complete, so a preparation that was interrupted (killed, out of disk, the
  network gone) leaves no dataset behind, and the next start prepares it
  again;
- one process prepares: with several JAX processes, process 0, while the
  others wait for it; on one machine a lock file in `data_dir` keeps two runs
  that start together from preparing it twice.

Writing a dataset of images needs TensorFlow (TFDS's image feature encodes
with it); reading it does not. colorjax installs nothing on its own: without
TensorFlow the message names the optional extra, `pip install
'colorjax[prepare]'`. Datasets that TFDS cannot download (ImageNet) keep
their manual-download instructions.
"""

import contextlib
import fcntl
import importlib.util
import os

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np

from colorjax.errors import DataError

DEFAULT_DATA_DIR = '~/tensorflow_datasets'


def not_ready(name: str, data_dir: str | None, error, *, split: str | None = None) -> str:
  """The one sentence for a TFDS dataset that is not there and could not be
  prepared here (offline, say)."""
  where = data_dir or DEFAULT_DATA_DIR
  reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
  which = f'{name!r} (split {split!r})' if split else repr(name)
  return (
      f'The TFDS dataset {which} cannot be read from {where} ({reason}). '
      'Prepare it once with network access: rerun with '
      "--config.data.tfds_download=True (writing it needs `pip install "
      "'colorjax[prepare]'`), or run `pip install tensorflow tensorflow-datasets && "
      f'tfds build {name} --file_format=array_record --data_dir={where}` on another '
      'machine and copy the folder (see docs/data.md); or train offline with '
      '--config.data.source=folder --config.data.folder=PATH, or '
      '--config.data.source=sample.')


@contextlib.contextmanager
def _lock(data_dir: str, name: str):
  """An exclusive lock on <data_dir>/.<name>.prepare.lock, released when the
  holder leaves the block or dies."""
  os.makedirs(data_dir, exist_ok=True)
  path = os.path.join(data_dir, f'.{name.replace("/", "_")}.prepare.lock')
  with open(path, 'w') as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def _encodes_images(builder) -> bool:
  """Whether writing the dataset encodes images, which TFDS does with TensorFlow."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return any(isinstance(f, (tfds.features.Image, tfds.features.Video))
             for f in builder.info.features.flat_features)


def _has_tensorflow() -> bool:
  return importlib.util.find_spec('tensorflow') is not None


def prepare(name: str, data_dir: str | None = None) -> bool:
  """Downloads and prepares `name` in data_dir unless it is there already.

  Returns:
    True if it prepared the dataset now, False if it was there.

  Raises:
    DataError: it cannot be prepared here (a manual download, no TensorFlow,
      no network); the message says what to do.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  data_dir = os.path.expanduser(data_dir or DEFAULT_DATA_DIR)
  with _lock(data_dir, name):
    builder = tfds.builder(name, data_dir=data_dir, file_format='array_record')
    if builder.is_prepared():
      return False
    if builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
      raise DataError(
          f'The TFDS dataset {name!r} cannot be downloaded automatically: put the '
          f'files TFDS asks for in {os.path.join(data_dir, "downloads", "manual")} '
          f'(`tfds build {name}` prints which), then rerun.')
    if _encodes_images(builder) and not _has_tensorflow():
      raise DataError(
          f'The TFDS dataset {name!r} is not in {data_dir}, and preparing it needs '
          'TensorFlow (TFDS encodes its images with it; training reads them '
          "without it): pip install 'colorjax[prepare]' (in a checkout: pip "
          'install tensorflow), then rerun.')
    logging.info('Preparing the TFDS dataset %s in %s, once: later starts read it '
                 'from there.', name, data_dir)
    try:
      builder.download_and_prepare(file_format='array_record')
    except Exception as e:  # pylint: disable=broad-except
      raise DataError(not_ready(name, data_dir, e)) from e
    logging.info('Prepared the TFDS dataset %s in %s.', name, data_dir)
    return True


def ensure(name: str, data_dir: str | None = None) -> None:
  """`prepare`, by process 0 only when there are several; the others wait
  until it has finished.

  Raises:
    DataError: it could not be prepared (on the other processes: that
      process 0 could not).
  """
  if jax.process_count() == 1:
    prepare(name, data_dir)
    return
  error = None
  if jax.process_index() == 0:
    try:
      prepare(name, data_dir)
    except DataError as e:
      error = e
  # Every process reaches this point; process 0 only after preparing.
  failed = multihost_utils.process_allgather(np.asarray(error is not None))
  if error is not None:
    raise error
  if np.any(failed):
    raise DataError(f'Process 0 could not prepare the TFDS dataset {name!r}; '
                    'its message says why.')

"""Where photos come from: the sources of `config.data.source`, split into
train and eval, and the scan that keeps the usable ones.

  'tfds'   a TFDS dataset with an 'image' feature, read through
           `tfds.data_source` (array_record; no TensorFlow needed);
  'folder' a folder of images (recursive), or several as 'A,B', split into
           train/eval by a seeded hash of each relative path, so the split is
           stable as files are added; or, with config.data.eval_folder, that
           folder (or folders) whole for eval (e.g. CIFAR-10's test/);
  'sample' the colour photos that scikit-image ships: the offline quickstart.

A source has `len`, `load(index, draft_size=None)` -> uint8 RGB and
`describe(index)`; `colorjax.evaluate --data` opens the same kinds
(`open_images`).
"""

import concurrent.futures
import dataclasses
import hashlib
import os
from typing import Sequence

from absl import logging
import ml_collections
import numpy as np

from colorjax import images
from colorjax import prepare
from colorjax.errors import DataError

# Colour photos that scikit-image ships; the last two are the eval split.
SAMPLE_TRAIN = ('astronaut.png', 'hubble_deep_field.jpg', 'ihc.png',
                'motorcycle_left.png', 'motorcycle_right.png', 'retina.jpg',
                'rocket.jpg')
SAMPLE_EVAL = ('chelsea.png', 'coffee.png')

# Side of the thumbnail that the scan for unreadable and gray images decodes.
_SCAN_SIZE = 64


@dataclasses.dataclass(frozen=True)
class TfdsSource:
  """The 'image' feature of a TFDS split, read through `tfds.data_source`."""
  data_source: Sequence[dict]
  name: str

  def __len__(self):
    return len(self.data_source)

  def load(self, index: int, draft_size: int | None = None) -> np.ndarray:
    image = np.asarray(self.data_source[index]['image'])
    if draft_size:  # A thumbnail for the scan: every k-th pixel is enough.
      step = max(1, min(image.shape[:2]) // draft_size)
      image = image[::step, ::step]
    if image.ndim == 2:
      image = image[..., None]
    if image.dtype == np.uint16:
      image = np.round(image / 257.0).astype(np.uint8)
    if image.shape[-1] == 1:
      image = np.repeat(image, 3, axis=-1)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))

  def describe(self, index: int) -> str:
    return f'{self.name} example {index}'


def _hash_fraction(seed: int, key: str) -> float:
  """A stable number in [0, 1) for (seed, key)."""
  digest = hashlib.sha256(f'{seed}:{key}'.encode()).digest()
  return int.from_bytes(digest[:8], 'little') / 2.0**64


def folder_entries(folder: str) -> list[tuple[str, int]]:
  """(path, repeats) for each folder of config.data.folder: 'A,B*3' is A once
  and B three times (its training photos drawn three times as often; its
  held-out photos count once).

  Raises:
    DataError: a repeat count that is not a positive integer.
  """
  entries = []
  for item in [f for f in folder.split(',') if f]:
    root, star, count = item.rpartition('*')
    if not star:
      entries.append((item, 1))
    elif count.isdigit() and int(count) > 0 and root:
      entries.append((root, int(count)))
    else:
      raise DataError(f'config.data.folder entry {item!r}: after "*" comes how many times '
                      'its training photos count, a whole number of 1 or more (e.g. '
                      '../shared/data/train_neutral*3).')
  return entries


def folder_name(root: str) -> str:
  """A folder's last path component ('../shared/data/train_neutral/' -> 'train_neutral'):
  how config.data.eval_fractions and `colorjax.tune --folder_gains` name it."""
  return os.path.basename(root.rstrip(os.sep))


def folder_fractions(text: str, entries: list[tuple[str, int]]) -> dict[str, float]:
  """The held-out shares that config.data.eval_fractions sets for some of the
  folders of config.data.folder (`entries`, as `folder_entries` gives them):
  'NAME:SHARE,...' by each folder's last path component, e.g.
  'train_neutral:0.1'.

  Raises:
    DataError: an entry that is not NAME:SHARE with SHARE in [0, 1], or a
      NAME that is none of the folders.
  """
  names = {folder_name(root) for root, _ in entries}
  shares = {}
  for item in [f for f in text.split(',') if f]:
    name, colon, share = item.rpartition(':')
    try:
      value = float(share)
    except ValueError:
      value = -1.0
    if not colon or not name or not 0.0 <= value <= 1.0:
      raise DataError(f'config.data.eval_fractions entry {item!r}: write FOLDER:SHARE with '
                      'SHARE between 0 and 1 (e.g. train_neutral:0.1).')
    if name not in names:
      raise DataError(f'config.data.eval_fractions names {name!r}, which is none of the '
                      f'folders of config.data.folder ({", ".join(sorted(names))}); use '
                      "a folder's last path component.")
    shares[name] = value
  return shares


def folder_split(folder: str, split: str, eval_fraction: float, seed: int,
                 eval_fractions: str = ''):
  """The files of one split of a folder, or of several given as 'A,B' (a
  folder given as 'B*3' has its training files three times): a path's split
  never changes.

  A file's split is a hash of its path relative to its own folder, so adding
  files or folders never moves a file to the other split, and raising a
  folder's held-out share (`eval_fractions`, 'NAME:SHARE,...' by the folder's
  last path component; the others keep `eval_fraction`) only moves files
  from training to held out.
  """
  entries = folder_entries(folder)
  shares = folder_fractions(eval_fractions, entries)
  chosen = []
  for root, repeats in entries:
    paths = images.list_images(root)
    if not paths:
      raise DataError(f'The image folder {root!r} holds no images (looked '
                      f'for {", ".join(images.IMAGE_EXTENSIONS)}, recursively).')
    share = shares.get(folder_name(root), eval_fraction)
    kept = [p for p in paths if (_hash_fraction(seed, os.path.relpath(p, root))
                                 < share) == (split == 'eval')]
    chosen += kept * (repeats if split == 'train' else 1)
  return chosen


def sample_split(split: str) -> list[str]:
  """scikit-image's shipped colour photos, a fixed few held out for eval."""
  import skimage  # pylint: disable=g-import-not-at-top
  root = os.path.join(os.path.dirname(skimage.__file__), 'data')
  return [os.path.join(root, n)
          for n in (SAMPLE_EVAL if split == 'eval' else SAMPLE_TRAIN)]


def tfds_split(name: str, split: str, data_dir: str | None, download: bool):
  """Opens a TFDS split for random access, with a clear error if it is not
  there; with `download`, prepares the dataset first if it is missing
  (`colorjax.prepare`)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top  # Heavy; TFDS sources only.
  try:
    if download:
      prepare.ensure(name, data_dir)
    source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise DataError(f'TFDS has no dataset named {name!r}; check '
                    '--config.data.tfds_name (e.g. cifar10, imagenet2012, '
                    'places365_small).') from e
  except DataError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(prepare.not_ready(name, data_dir, e, split=split)) from e
  features = source.dataset_info.features
  if 'image' not in features:
    raise DataError(f'The TFDS dataset {name!r} has no "image" feature '
                    f'(it has {", ".join(features)}); pick an image dataset.')
  return TfdsSource(source, f'{name}[{split}]')


def open_source(data_config, split: str):
  """The source of one split ('train' or 'eval') as `data_config` describes."""
  kind = data_config.source
  if kind == 'tfds':
    name_split = data_config.train_split if split == 'train' else data_config.eval_split
    return tfds_split(data_config.tfds_name, name_split,
                      data_config.tfds_data_dir or None, data_config.tfds_download)
  if kind == 'folder':
    if not data_config.folder:
      raise DataError('config.data.source is "folder" but no folder is set; '
                      'pass --config.data.folder=PATH.')
    eval_folder = data_config.get('eval_folder', '')
    if split == 'eval' and eval_folder:  # A test folder of its own: all of it.
      paths = folder_split(eval_folder, 'eval', 1.0, data_config.split_seed)
    else:
      paths = folder_split(data_config.folder, split, data_config.eval_fraction,
                           data_config.split_seed, data_config.get('eval_fractions', ''))
    if not paths:
      raise DataError(
          f'The {split} split of {data_config.folder!r} is empty (eval_fraction '
          f'{data_config.eval_fraction}); change --config.data.eval_fraction '
          'or add photos.')
    return images.FileSource(paths)
  if kind == 'sample':
    return images.FileSource(sample_split(split))
  raise DataError(f'config.data.source must be "tfds", "folder" or "sample", '
                  f'not {kind!r}.')


def held_out(config: dict):
  """(source, names): the photos a run held out from training, i.e. the eval
  split of the data its stored config dict names (for a folder source, the
  photos its split kept back; for TFDS, its eval split)."""
  source = open_source(ml_collections.ConfigDict(config['data']), 'eval')
  return source, [source.describe(i) for i in range(len(source))]


def open_images(data: str, tfds_data_dir: str | None = None):
  """The source that `--data` names and a display name for each image."""
  if data.startswith('tfds:'):
    parts = data.split(':')
    if len(parts) != 3 or not all(parts[1:]):
      raise DataError(
          f'A TFDS source is written tfds:NAME:SPLIT (e.g. tfds:cifar10:test), not {data!r}.')
    source = tfds_split(parts[1], parts[2], tfds_data_dir, False)
    return source, [f'{parts[1]}/{parts[2]}/{i}' for i in range(len(source))]
  paths = images.list_images(data)
  if not paths:
    raise DataError(f'The folder {data!r} holds no images.')
  return images.FileSource(paths), [os.path.relpath(p, data) for p in paths]


def folder_of(config: dict | None, data: str | None):
  """A function from a photo's name (as `held_out` or `open_images` gives
  it) to the folder it came from: with `data` (--data), its first subfolder
  ('.' for the photos directly inside; the dataset for TFDS); without, which
  of the folders in the run's config.data.folder ('A,B') holds it."""
  if data:
    if data.startswith('tfds:'):
      return lambda name: data
    return lambda name: name.split(os.sep)[0] if os.sep in name else '.'
  folders = [root for root, _ in folder_entries(config['data'].get('folder') or '')]

  def folder(name: str) -> str:
    inside = [f for f in folders
              if os.path.abspath(name).startswith(os.path.abspath(f).rstrip(os.sep) + os.sep)]
    return max(inside, key=len) if inside else config['data'].get('source', '?')
  return folder


# -------------------------------------------------------------------- scan --

def scan(source, *, gray_threshold: float, name: str) -> np.ndarray:
  """Indices of the usable examples: readable, and colourful if gray_threshold > 0.

  Logs one warning line for each unreadable file and the totals.

  Raises:
    DataError: no example is usable.
  """
  def check(index):
    try:
      rgb = source.load(index, draft_size=_SCAN_SIZE)
    except DataError as e:
      return index, f'{source.describe(index)}: {e}'
    return index, gray_threshold > 0 and images.is_near_gray(rgb, gray_threshold)

  usable, unreadable, gray = [], 0, 0
  workers = min(32, 2 * (os.cpu_count() or 1))
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    for index, result in pool.map(check, range(len(source))):
      if isinstance(result, str):
        logging.warning('Skipping unreadable image %s', result)
        unreadable += 1
      elif result:
        gray += 1
      else:
        usable.append(index)
  logging.info('%s data: %d usable images, %d skipped as unreadable, %d '
               'excluded as grayscale.', name, len(usable), unreadable, gray)
  if not usable:
    raise DataError(f'No usable {name} images: {len(source)} found, '
                    f'{unreadable} unreadable, {gray} grayscale. Point the '
                    'config at a source of colour photos.')
  return np.asarray(usable, np.int64)



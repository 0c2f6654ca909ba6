"""Input pipelines: photos in, batches of uint8 RGB out.

Batches travel to the device as uint8 RGB ({'rgb': [batch, height, width, 3]});
the LAB conversion and normalisation run inside the jitted step, where they
are cheap and the host has nothing to convert.

Three sources, chosen by `config.data.source`:
  'tfds'   a TFDS dataset with an 'image' feature, read through
           `tfds.data_source` (array_record; no TensorFlow needed);
  'folder' a folder of images (recursive), split into train/eval by a seeded
           hash of each relative path, so the split is stable as files are added;
  'sample' the colour photos that scikit-image ships: the offline quickstart.

Training order is a pure function of (seed, step): global example `g` is
position `g % n` of the permutation for epoch `g // n`, and its crop and flip
come from a generator seeded with (seed, g). A resumed run therefore sees
exactly the batches an uninterrupted run would, and with several processes
each reads only its own slice of every global batch.
"""

import concurrent.futures
import dataclasses
import functools
import hashlib
import io
import os
from typing import Iterable, Iterator, Sequence

from absl import logging
import grain
import jax
import numpy as np
from PIL import Image
from PIL import ImageOps

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff')

# Colour photos that scikit-image ships; the last two are the eval split.
SAMPLE_TRAIN = ('astronaut.png', 'hubble_deep_field.jpg', 'ihc.png',
                'motorcycle_left.png', 'motorcycle_right.png', 'retina.jpg',
                'rocket.jpg')
SAMPLE_EVAL = ('chelsea.png', 'coffee.png')

# Side of the thumbnail that the scan for unreadable and gray images decodes.
_SCAN_SIZE = 64


class DataError(ValueError):
  """A problem with the data that the user can fix; the message says how."""


# ---------------------------------------------------------------- decoding --

class ImageTooLarge(DataError):
  """The image has more pixels than the caller allows."""


def read_image(data: bytes, *, max_pixels: int | None = None,
               draft_size: int | None = None):
  """Decodes an image file's bytes to uint8 RGB and its alpha channel.

  Handles what photo folders hold: EXIF orientation, grayscale, palette, CMYK,
  16-bit and alpha.

  Args:
    data: the encoded file.
    max_pixels: refuse images with more pixels, judged from the header,
      before decoding.
    draft_size: if set, JPEGs may be decoded at a reduced scale no smaller
      than this (fast thumbnails).

  Returns:
    (rgb uint8 [height, width, 3], alpha uint8 [height, width] or None).

  Raises:
    ImageTooLarge: more than max_pixels pixels.
    DataError: the bytes are not an image that Pillow can read.
  """
  try:
    with Image.open(io.BytesIO(data)) as image:
      width, height = image.size
      if max_pixels and width * height > max_pixels:
        raise ImageTooLarge(
            f'the image has {width * height / 1e6:.1f} megapixels '
            f'({width}x{height}), more than the limit of {max_pixels / 1e6:g}')
      if draft_size:
        image.draft('RGB', (draft_size, draft_size))
      image = ImageOps.exif_transpose(image)
      alpha = _alpha(image)
      return _to_rgb(image.convert('RGBA') if alpha is not None else image), alpha
  except ImageTooLarge:
    raise
  except Image.UnidentifiedImageError as e:
    raise DataError('not an image, or in a format Pillow cannot read') from e
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise DataError(f'not a readable image ({e})') from e


def decode_image(data: bytes, *, draft_size: int | None = None) -> np.ndarray:
  """Decodes an image file's bytes to uint8 RGB [height, width, 3], alpha
  composited onto white (see `read_image`).

  Raises:
    DataError: the bytes are not an image that Pillow can read.
  """
  rgb, alpha = read_image(data, draft_size=draft_size)
  if alpha is None:
    return rgb
  weight = alpha[..., None].astype(np.float32) / 255.0
  return np.round(rgb * weight + 255.0 * (1.0 - weight)).astype(np.uint8)


def _alpha(image: Image.Image) -> np.ndarray | None:
  """The alpha channel as uint8, or None for an image without one."""
  if image.mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La') or (
      image.mode == 'P' and 'transparency' in image.info):
    return np.asarray(image.convert('RGBA'))[..., 3].copy()
  return None


def _to_rgb(image: Image.Image) -> np.ndarray:
  """Converts a Pillow image of any mode to uint8 RGB."""
  if image.mode in ('I;16', 'I;16L', 'I;16B', 'I;16N', 'I'):
    # 16-bit grayscale: Pillow's own conversion would clip at 255.
    gray = np.asarray(image).astype(np.float64) / 257.0
    gray = np.clip(np.round(gray), 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)
  return np.asarray(image.convert('RGB'))


def is_near_gray(rgb: np.ndarray, threshold: float) -> bool:
  """True if 90% of pixels have RGB chroma (max - min, 0..255) below threshold."""
  chroma = rgb.max(axis=-1).astype(np.int16) - rgb.min(axis=-1)
  return float(np.percentile(chroma, 90)) < threshold


def _resize_shorter(rgb: np.ndarray, size: int) -> np.ndarray:
  height, width = rgb.shape[:2]
  scale = size / min(height, width)
  new = (max(size, round(width * scale)), max(size, round(height * scale)))
  return np.asarray(Image.fromarray(rgb).resize(new, Image.BICUBIC))


def fit_size(rgb: np.ndarray, image_size: int, resize_shorter: int) -> np.ndarray:
  """Resizes so the shorter side is at most `resize_shorter` (0: any) and at least `image_size`."""
  shorter = min(rgb.shape[:2])
  if resize_shorter and shorter > resize_shorter:
    return _resize_shorter(rgb, max(resize_shorter, image_size))
  if shorter < image_size:
    return _resize_shorter(rgb, image_size)
  return rgb


def random_scale(rgb: np.ndarray, scale_range, min_size: int,
                 rng: np.random.Generator) -> np.ndarray:
  """Resizes by a factor drawn uniformly from scale_range; shorter side >= min_size."""
  shorter = min(rgb.shape[:2])
  target = max(min_size, round(shorter * rng.uniform(*scale_range)))
  return rgb if target == shorter else _resize_shorter(rgb, target)


def crop_plan(height: int, width: int, size: int, rng: np.random.Generator):
  """(top, left, flip) of a random size x size crop, flipped with probability 1/2."""
  top = rng.integers(0, height - size + 1)
  left = rng.integers(0, width - size + 1)
  return int(top), int(left), bool(rng.random() < 0.5)


def random_crop_flip(rgb: np.ndarray, size: int, rng: np.random.Generator):
  """A random size x size crop, flipped horizontally with probability 1/2."""
  top, left, flip = crop_plan(rgb.shape[0], rgb.shape[1], size, rng)
  crop = rgb[top:top + size, left:left + size]
  return crop[:, ::-1] if flip else crop


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
  top, left = (rgb.shape[0] - size) // 2, (rgb.shape[1] - size) // 2
  return rgb[top:top + size, left:left + size]


# ----------------------------------------------------------------- sources --

@dataclasses.dataclass(frozen=True)
class FileSource:
  """Image files, read and decoded on access."""
  paths: Sequence[str]

  def __len__(self):
    return len(self.paths)

  def load(self, index: int, draft_size: int | None = None) -> np.ndarray:
    try:
      with open(self.paths[index], 'rb') as f:
        return decode_image(f.read(), draft_size=draft_size)
    except OSError as e:
      raise DataError(f'cannot read the file ({e.strerror})') from e

  def describe(self, index: int) -> str:
    return self.paths[index]


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


def list_images(folder: str) -> list[str]:
  """Image files under folder (recursive), sorted by their relative path."""
  if not os.path.isdir(folder):
    raise DataError(f'The image folder {folder!r} does not exist; set '
                    '--config.data.folder to a folder of photos.')
  found = []
  for root, dirs, files in os.walk(folder, followlinks=True):
    dirs.sort()
    found += [os.path.join(root, f) for f in files
              if f.lower().endswith(IMAGE_EXTENSIONS)]
  return sorted(found, key=lambda p: os.path.relpath(p, folder))


def folder_split(folder: str, split: str, eval_fraction: float, seed: int):
  """The files of one split of a folder, or of several given as 'A,B': a
  path's split never changes.

  A file's split is a hash of its path relative to its own folder, so adding
  files or folders never moves a file to the other split.
  """
  chosen = []
  for root in [f for f in folder.split(',') if f]:
    paths = list_images(root)
    if not paths:
      raise DataError(f'The image folder {root!r} holds no images (looked '
                      f'for {", ".join(IMAGE_EXTENSIONS)}, recursively).')
    chosen += [p for p in paths if (_hash_fraction(seed, os.path.relpath(p, root))
                                    < eval_fraction) == (split == 'eval')]
  return chosen


def sample_split(split: str) -> list[str]:
  """scikit-image's shipped colour photos, a fixed few held out for eval."""
  import skimage  # pylint: disable=g-import-not-at-top
  root = os.path.join(os.path.dirname(skimage.__file__), 'data')
  return [os.path.join(root, n)
          for n in (SAMPLE_EVAL if split == 'eval' else SAMPLE_TRAIN)]


def _tfds_not_ready(name: str, split: str, data_dir: str | None, error) -> str:
  where = data_dir or '~/tensorflow_datasets'
  reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
  return (
      f'The TFDS dataset {name!r} (split {split!r}) cannot be read from '
      f'{where} ({reason}). Prepare it once on a machine with network access: '
      f'`pip install tensorflow && tfds build {name} --file_format=array_record '
      f'--data_dir={where}` (see the README), or train offline with '
      '--config.data.source=folder --config.data.folder=PATH, or '
      '--config.data.source=sample.')


def tfds_split(name: str, split: str, data_dir: str | None, download: bool):
  """Opens a TFDS split for random access, with a clear error if it is not there."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    source = tfds.data_source(name, split=split, data_dir=data_dir,
                              download=download)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise DataError(f'TFDS has no dataset named {name!r}; check '
                    '--config.data.tfds_name (e.g. cifar10, imagenet2012, '
                    'places365_small).') from e
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(_tfds_not_ready(name, split, data_dir, e)) from e
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
    paths = folder_split(data_config.folder, split, data_config.eval_fraction,
                         data_config.split_seed)
    if not paths:
      raise DataError(
          f'The {split} split of {data_config.folder!r} is empty (eval_fraction '
          f'{data_config.eval_fraction}); change --config.data.eval_fraction '
          'or add photos.')
    return FileSource(paths)
  if kind == 'sample':
    return FileSource(sample_split(split))
  raise DataError(f'config.data.source must be "tfds", "folder" or "sample", '
                  f'not {kind!r}.')


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
    return index, gray_threshold > 0 and is_near_gray(rgb, gray_threshold)

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


# ---------------------------------------------------------------- pipelines --

class _Examples:
  """Shared state of the train and eval example maps: a picklable callable's
  fields, so that grain can run them in worker processes."""

  def __init__(self, source, indices, *, image_size, resize_shorter, cache,
               global_batch, process_index, process_count):
    self.source, self.indices = source, indices
    self.image_size, self.resize_shorter = image_size, resize_shorter
    self.global_batch = global_batch
    self.local_batch = global_batch // process_count
    self.offset = process_index * self.local_batch
    # Decoded, resized images by index; for sets that fit in host memory.
    self.cache = {} if cache else None

  def load(self, index: int) -> np.ndarray:
    """The image at source index `index`, resized for cropping."""
    if self.cache is not None and index in self.cache:
      return self.cache[index]
    rgb = fit_size(self.source.load(index), self.image_size, self.resize_shorter)
    if self.cache is not None:
      self.cache[index] = rgb
    return rgb


class TrainExample(_Examples):
  """Maps this process's local example number to an augmented crop."""

  def __init__(self, source, indices, *, seed, scale_range=(1.0, 1.0), **kwargs):
    super().__init__(source, indices, **kwargs)
    self.seed, self.scale_range = seed, tuple(scale_range)

  def global_index(self, local_index: int) -> int:
    step, i = divmod(local_index, self.local_batch)
    return step * self.global_batch + self.offset + i

  @functools.lru_cache(maxsize=2)
  def _permutation(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self.seed, epoch]).permutation(len(self.indices))

  def record(self, g: int) -> tuple[int, np.random.Generator]:
    """The source index of global example g, and the generator of its augmentation."""
    epoch, position = divmod(g, len(self.indices))
    index = int(self.indices[self._permutation(epoch)[position]])
    return index, np.random.default_rng([self.seed, 1, g])

  def __call__(self, local_index: int) -> dict[str, np.ndarray]:
    index, rng = self.record(self.global_index(local_index))
    rgb = self.load(index)
    if self.scale_range != (1.0, 1.0):
      rgb = random_scale(rgb, self.scale_range, self.image_size, rng)
    return {'rgb': np.ascontiguousarray(random_crop_flip(rgb, self.image_size, rng))}


def _read_options(data_config):
  return grain.ReadOptions(num_threads=data_config.num_threads,
                           prefetch_buffer_size=data_config.prefetch)


def train_batches(data_config, source, indices, *, global_batch: int,
                  start_step: int, num_steps: int, seed: int,
                  process_index: int | None = None,
                  process_count: int | None = None) -> Iterator[dict]:
  """This process's training batches for steps [start_step, num_steps).

  Yields {'rgb': uint8 [global_batch / process_count, size, size, 3]}.
  """
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  example = TrainExample(source, indices, seed=seed,
                         scale_range=data_config.scale_range,
                         image_size=data_config.image_size,
                         resize_shorter=data_config.resize_shorter,
                         cache=data_config.cache,
                         global_batch=global_batch, process_index=process_index,
                         process_count=process_count)
  local = example.local_batch
  dataset = (grain.MapDataset.range(start_step * local, num_steps * local)
             .map(example).batch(local, drop_remainder=True))
  dataset = dataset.to_iter_dataset(_read_options(data_config))
  if data_config.num_workers > 0:
    dataset = dataset.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=data_config.num_workers))
  return iter(dataset)


class EvalExample(_Examples):
  """Maps a local eval slot to a centre crop, or to a masked-out blank past the end."""

  def __call__(self, local_index: int) -> dict[str, np.ndarray]:
    batch, i = divmod(local_index, self.local_batch)
    g = batch * self.global_batch + self.offset + i
    if g >= len(self.indices):
      blank = np.zeros((self.image_size, self.image_size, 3), np.uint8)
      return {'rgb': blank, 'mask': np.array(False)}
    rgb = center_crop(self.load(int(self.indices[g])), self.image_size)
    return {'rgb': np.ascontiguousarray(rgb),
            'mask': np.array(True)}


def eval_batches(data_config, source, indices, *, global_batch: int,
                 process_index: int | None = None,
                 process_count: int | None = None) -> Iterable[dict]:
  """Every eval example exactly once, in order; the last batch padded and masked.

  Returns an iterable to go through once per evaluation, of batches
  {'rgb': uint8 [local_batch, size, size, 3], 'mask': bool [local_batch]}.
  """
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  example = EvalExample(source, indices, image_size=data_config.image_size,
                        resize_shorter=data_config.resize_shorter,
                        cache=data_config.cache,
                        global_batch=global_batch, process_index=process_index,
                        process_count=process_count)
  num_batches = -(-len(indices) // global_batch)
  dataset = (grain.MapDataset.range(num_batches * example.local_batch)
             .map(example).batch(example.local_batch))
  return dataset.to_iter_dataset(_read_options(data_config))


# ------------------------------------------------------- on-device data --

class DeviceDataset:
  """A training set that lives in device memory (CIFAR-10 is 150 MB as uint8).

  Every image is decoded once and copied to every device; each step the host
  only draws the plan of the batch (which images, where to crop, whether to
  flip: a few hundred integers, by exactly the host pipeline's rules, so both
  paths give the same batches) and the device gathers, crops and flips.
  Needs all images at one size no smaller than the crop, and no rescaling.
  """

  def __init__(self, data_config, source, indices, *, seed: int, global_batch: int,
               sharding):
    if tuple(data_config.scale_range) != (1.0, 1.0):
      raise DataError('config.data.on_device uses the images as they are: set '
                      'config.data.scale_range=(1.0, 1.0).')
    # Only the usable images go to the device, in the order of `indices`; the
    # plan then picks positions in that list, with the host pipeline's choices.
    self.plan = TrainExample(source, np.arange(len(indices)), seed=seed,
                             image_size=data_config.image_size, resize_shorter=0,
                             cache=False, global_batch=global_batch,
                             process_index=0, process_count=1)
    images = [source.load(int(i)) for i in indices]
    shapes = {image.shape for image in images}
    size = data_config.image_size
    shorter = min(next(iter(shapes))[:2])
    if len(shapes) != 1 or shorter < size:
      raise DataError(
          f'config.data.on_device needs every image at one size of at least {size} '
          f'pixels, but they come in {len(shapes)} sizes; use the host pipeline.')
    if data_config.resize_shorter and shorter > data_config.resize_shorter:
      raise DataError(
          f'config.data.on_device uses the images as they are, but '
          f'config.data.resize_shorter={data_config.resize_shorter} would shrink them; '
          'set it to 0.')
    replicated = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())
    self.images = jax.device_put(np.stack(images), replicated)  # [n, h, w, 3] uint8
    self.global_batch, self.size = global_batch, size
    self._gather = jax.jit(functools.partial(_gather_crops, size=size),
                           out_shardings=sharding)

  def batch(self, step: int) -> dict:
    """The global batch of `step` (0-based), as {'rgb': [global_batch, size, size, 3]}."""
    height, width = self.images.shape[1:3]
    plans = []
    for g in range(step * self.global_batch, (step + 1) * self.global_batch):
      index, rng = self.plan.record(g)
      plans.append((index,) + crop_plan(height, width, self.size, rng))
    index, top, left, flip = (np.asarray(c) for c in zip(*plans))
    return {'rgb': self._gather(self.images, index, top, left, flip)}


def _gather_crops(images, index, top, left, flip, *, size: int):
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  def one(i, t, l, f):
    crop = jax.lax.dynamic_slice(images[i], (t, l, 0), (size, size, 3))
    return jnp.where(f, crop[:, ::-1], crop)
  return jax.vmap(one)(index, top, left, flip)

"""Input pipelines: photos in, batches of uint8 RGB out.

Batches travel to the device as uint8 RGB ({'rgb': [batch, height, width, 3]});
the LAB conversion and normalisation run inside the jitted step, where they
are cheap and the host has nothing to convert.

The photos come from a source of `colorjax.sources` (TFDS, a folder, or
scikit-image's samples), scanned for usable ones; this module turns them into
batches with grain on the host, or gathers them on the device
(`DeviceDataset`, config.data.on_device).

Training order is a pure function of (seed, step): global example `g` is
position `g % n` of the permutation for epoch `g // n`, and its crop and flip
come from a generator seeded with (seed, g). A resumed run therefore sees
exactly the batches an uninterrupted run would, and with several processes
each reads only its own slice of every global batch.
"""

import functools
from typing import Iterable, Iterator

import grain
import jax
import jax.numpy as jnp
import numpy as np

from colorjax import images
from colorjax.errors import DataError


def random_scale(rgb: np.ndarray, scale_range, min_size: int,
                 rng: np.random.Generator) -> np.ndarray:
  """Resizes by a factor drawn uniformly from scale_range; shorter side >= min_size."""
  shorter = min(rgb.shape[:2])
  target = max(min_size, round(shorter * rng.uniform(*scale_range)))
  return rgb if target == shorter else images.scale_to_shorter(rgb, target)


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
    rgb = images.fit_size(self.source.load(index), self.image_size, self.resize_shorter)
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
  def one(i, t, l, f):
    crop = jax.lax.dynamic_slice(images[i], (t, l, 0), (size, size, 3))
    return jnp.where(f, crop[:, ::-1], crop)
  return jax.vmap(one)(index, top, left, flip)

"""Colorize photos of any size with a trained model.

The network predicts ab at a working resolution (`resolution`: the shorter
side in pixels, or 'native' for the photo's own size); the prediction is
upsampled bilinearly to the photo's size and joined with the photo's own
full-resolution lightness, so edges stay as sharp as the input and the
output's L is the input's L.

Every jitted step runs on shapes rounded up to a few buckets per octave
(`bucket`), so a stream of differently sized photos compiles a handful of
programs, not one per size.

  colorizer = Colorizer(model, variables)
  rgb = colorizer.colorize(gray_or_rgb_uint8, resolution=128)
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from colorjax import color

NATIVE = 'native'


def bucket(size: int) -> int:
  """`size` rounded up: to a multiple of 32 up to 256, then to one of 4 steps
  per octave (less than 25% more); so few shapes cover any photo size."""
  if size <= 32:
    return 32
  step = 2 ** max(5, (size - 1).bit_length() - 3)
  return -(-size // step) * step


def working_size(height: int, width: int, resolution) -> tuple[int, int]:
  """The size the network sees: shorter side `resolution`, or (height, width) if native."""
  if resolution == NATIVE:
    return height, width
  scale = int(resolution) / min(height, width)
  return max(1, round(height * scale)), max(1, round(width * scale))


def parse_resolution(value):
  """'native' or a positive int from a flag's text; ValueError otherwise."""
  if str(value) == NATIVE:
    return NATIVE
  try:
    resolution = int(value)
  except ValueError:
    resolution = 0
  if resolution <= 0:
    raise ValueError(f'The resolution must be "native" or a positive number of '
                     f'pixels, not {value!r}.')
  return resolution


def pad(array: np.ndarray, height: int, width: int) -> np.ndarray:
  """Edge-pads the two axes after the first to (height, width)."""
  pads = [(0, 0), (0, height - array.shape[1]), (0, width - array.shape[2])]
  return np.pad(array, pads + [(0, 0)] * (array.ndim - 3), mode='edge')


def _resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
  """Bilinear (antialiased when shrinking) resize of [batch, h, w, c] floats."""
  if images.shape[1:3] == (height, width):
    return images
  out = np.empty(images.shape[:1] + (height, width) + images.shape[3:], np.float32)
  for i, image in enumerate(images):
    for c in range(image.shape[-1]):
      channel = Image.fromarray(np.ascontiguousarray(image[..., c], np.float32), 'F')
      out[i, ..., c] = np.asarray(channel.resize((width, height), Image.BILINEAR))
  return out


def as_rgb_batch(image: np.ndarray) -> tuple[np.ndarray, bool]:
  """uint8 [h, w], [h, w, 1|3|4] or a batch of those -> ([batch, h, w, 3], batched)."""
  image = np.asarray(image)
  if image.dtype != np.uint8:
    raise ValueError(f'Images must be uint8, not {image.dtype}.')
  batched = image.ndim == 4 or (image.ndim == 3 and image.shape[-1] not in (1, 3, 4))
  batch = image if batched else image[None]
  if batch.ndim == 3:
    batch = batch[..., None]
  if batch.shape[-1] == 1:
    batch = np.repeat(batch, 3, axis=-1)
  return batch[..., :3], batched


def compose(l, ab):
  """uint8 RGB from normalised l and ab, reducing chroma (never L) out of gamut."""
  rgb = color.lab_to_rgb(color.fit_chroma(color.denormalize(l, ab)))
  return jnp.round(rgb * 255).astype(jnp.uint8)


class Colorizer:
  """A model and its variables, with jitted, shape-bucketed steps."""

  def __init__(self, model, variables):
    self.model, self.variables = model, variables
    self._lightness = jax.jit(
        lambda rgb: color.normalize(color.rgb_to_lab(rgb))[0])
    self._predict = jax.jit(functools.partial(model.apply, train=False))
    self._compose = jax.jit(compose)

  def lightness(self, rgb: np.ndarray) -> np.ndarray:
    """Normalised l [batch, h, w, 1] of uint8 RGB [batch, h, w, 3]."""
    height, width = rgb.shape[1:3]
    padded = pad(rgb, bucket(height), bucket(width))
    return np.asarray(self._lightness(padded))[:, :height, :width]

  def predict_ab(self, l: np.ndarray, resolution) -> np.ndarray:
    """Normalised ab [batch, h, w, 2] for full-resolution l [batch, h, w, 1]."""
    height, width = l.shape[1:3]
    small_h, small_w = working_size(height, width, resolution)
    small = _resize(l, small_h, small_w)
    padded = pad(small, bucket(small_h), bucket(small_w))
    ab = np.asarray(self._predict(self.variables, padded))[:, :small_h, :small_w]
    return _resize(ab, height, width)

  def compose(self, l: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """uint8 RGB [batch, h, w, 3] from normalised l and ab of the same size."""
    height, width = l.shape[1:3]
    out = self._compose(pad(l, bucket(height), bucket(width)),
                        pad(ab, bucket(height), bucket(width)))
    return np.asarray(out)[:, :height, :width]

  def colorize(self, image: np.ndarray, resolution=NATIVE) -> np.ndarray:
    """Colorizes uint8 gray or RGB images ([h, w], [h, w, c] or a batch of them).

    Returns:
      uint8 RGB of the input's size (batched if the input was).
    """
    rgb, batched = as_rgb_batch(image)
    l = self.lightness(rgb)
    out = self.compose(l, self.predict_ab(l, resolution))
    return out if batched else out[0]


def colorize(image: np.ndarray, model, variables, resolution=NATIVE) -> np.ndarray:
  """Colorizes uint8 gray or RGB image(s) with `model`; see `Colorizer.colorize`.

  For many calls keep a `Colorizer`, which compiles each shape bucket once.
  """
  return Colorizer(model, variables).colorize(image, resolution)

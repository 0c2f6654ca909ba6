"""Reading and writing photos: files and bytes in, uint8 RGB out, and back.

Handles what photo folders hold (EXIF orientation, grayscale, palette, CMYK,
16-bit, alpha) with Pillow and numpy only, so inference (`colorize`, `serve`,
`evaluate`) reads photos without the training data pipeline's grain or TFDS.
"""

import dataclasses
import glob
import io
import math
import os
from typing import Sequence

import numpy as np
from PIL import Image
from PIL import ImageOps

from colorjax.errors import DataError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff', '.gif')


class ImageTooLarge(DataError):
  """The image has more pixels than the caller allows."""


def read_image(data: bytes, *, max_pixels: int | None = None,
               draft_size: int | None = None, reduce_to_pixels: int | None = None):
  """Decodes an image file's bytes to uint8 RGB and its alpha channel.

  Handles what photo folders hold: EXIF orientation, grayscale, palette, CMYK,
  16-bit and alpha.

  Args:
    data: the encoded file.
    max_pixels: refuse images with more pixels, judged from the header,
      before decoding.
    draft_size: if set, JPEGs may be decoded at a reduced scale no smaller
      than this (fast thumbnails).
    reduce_to_pixels: if set, an image with more pixels is decoded reduced by
      the smallest integer factor that brings it to at most this many: a
      JPEG already reduced by its decoder (draft mode: the pixels of the full
      size are never held), any other format reduced after decoding
      (`Image.reduce`, a box filter).

  Returns:
    (rgb uint8 [height, width, 3], alpha uint8 [height, width] or None).

  Raises:
    ImageTooLarge: more than max_pixels pixels.
    DataError: the bytes are not an image that Pillow can read.
  """
  try:
    try:
      opened = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:  # Pillow's own header check (> 179 MP).
      if max_pixels:
        raise ImageTooLarge(f'the image declares more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} '
                            f'megapixels, more than the limit of {max_pixels / 1e6:g}') from e
      raise
    with opened as image:
      width, height = image.size
      if max_pixels and width * height > max_pixels:
        raise ImageTooLarge(
            f'the image has {width * height / 1e6:.1f} megapixels '
            f'({width}x{height}), more than the limit of {max_pixels / 1e6:g}')
      if draft_size:
        image.draft('RGB', (draft_size, draft_size))
      if reduce_to_pixels and width * height > reduce_to_pixels:
        image = _reduced(image, reduce_to_pixels)
      image = ImageOps.exif_transpose(image)
      alpha = _alpha(image)
      return _to_rgb(image.convert('RGBA') if alpha is not None else image), alpha
  except ImageTooLarge:
    raise
  except Image.UnidentifiedImageError as e:
    raise DataError('not an image, or in a format Pillow cannot read') from e
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise DataError(f'not a readable image ({e})') from e


def declared_size(data: bytes) -> tuple[int, int] | None:
  """(width, height) an image file's header declares, None if unreadable."""
  try:
    with Image.open(io.BytesIO(data)) as image:
      return image.size
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
    return None


def reduction_factor(width: int, height: int, max_pixels: int) -> int:
  """The smallest integer factor f with ceil(width / f) * ceil(height / f) <= max_pixels."""
  factor = max(1, math.isqrt(width * height // max(1, max_pixels)))
  while math.ceil(width / factor) * math.ceil(height / factor) > max_pixels:
    factor += 1
  return factor


def _reduced(image: Image.Image, max_pixels: int) -> Image.Image:
  """`image` (opened, not yet loaded) decoded to at most max_pixels pixels:
  its size divided by `reduction_factor`, rounded up, whatever the format."""
  width, height = image.size
  factor = reduction_factor(width, height, max_pixels)
  target = (math.ceil(width / factor), math.ceil(height / factor))
  if image.format == 'JPEG':  # The decoder scales by 1/2, 1/4 or 1/8, to no less than target.
    image.draft(image.mode if image.mode in ('RGB', 'L', 'CMYK') else 'RGB', target)
  image.load()
  if image.size == (width, height):
    return image.reduce(factor)
  return image if image.size == target else image.resize(target, Image.Resampling.BOX)


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


def p90_chroma(rgb: np.ndarray) -> float:
  """The 90th percentile of the pixels' RGB chroma (max - min, 0..255)."""
  chroma = rgb.max(axis=-1).astype(np.int16) - rgb.min(axis=-1)
  return float(np.percentile(chroma, 90))


def is_near_gray(rgb: np.ndarray, threshold: float) -> bool:
  """True if 90% of pixels have RGB chroma (max - min, 0..255) below threshold."""
  return p90_chroma(rgb) < threshold


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


def encode(rgb: np.ndarray, alpha: np.ndarray | None, fmt: str, quality: int = 95) -> bytes:
  """PNG (with alpha if given) or JPEG bytes of a uint8 RGB image."""
  buffer = io.BytesIO()
  if fmt == 'png':
    image = Image.fromarray(np.dstack([rgb, alpha]) if alpha is not None else rgb)
    image.save(buffer, 'PNG')
  else:
    Image.fromarray(rgb).save(buffer, 'JPEG', quality=quality)
  return buffer.getvalue()


def resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
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


def collect(inputs: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
  """Files, folders (recursive) and globs -> ([(path, output path relative to --out)], missing).

  A folder's images keep their path relative to the folder; a file keeps its
  name.
  """
  found, missing, seen = [], [], set()
  for item in inputs:
    matches = sorted(glob.glob(item, recursive=True)) if glob.has_magic(item) else [item]
    if not any(os.path.exists(m) for m in matches):
      missing.append(item)
    for match in matches:
      if os.path.isdir(match):
        pairs = [(p, os.path.relpath(p, match)) for p in list_images(match)]
      else:
        pairs = [(match, os.path.basename(match))] if os.path.isfile(match) else []
      for path, relative in pairs:
        if os.path.abspath(path) not in seen:  # Named twice: colorize once.
          seen.add(os.path.abspath(path))
          found.append((path, relative))
  return found, missing


def scale_to_shorter(rgb: np.ndarray, size: int) -> np.ndarray:
  """uint8 RGB resized (bicubic) so that its shorter side is `size`."""
  height, width = rgb.shape[:2]
  scale = size / min(height, width)
  new = (max(size, round(width * scale)), max(size, round(height * scale)))
  return np.asarray(Image.fromarray(rgb).resize(new, Image.BICUBIC))


def fit_size(rgb: np.ndarray, image_size: int, resize_shorter: int) -> np.ndarray:
  """Resizes so the shorter side is at most `resize_shorter` (0: any) and at least `image_size`."""
  shorter = min(rgb.shape[:2])
  if resize_shorter and shorter > resize_shorter:
    return scale_to_shorter(rgb, max(resize_shorter, image_size))
  if shorter < image_size:
    return scale_to_shorter(rgb, image_size)
  return rgb

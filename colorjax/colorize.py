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

As a command, for files, folders (recursive, structure kept) and globs:

  python -m colorjax.colorize --checkpoint=RUN_DIR INPUT... --out=DIR \
      [--resolution=N] [--format=jpeg] [--overwrite]

Outputs are PNG (alpha kept) or JPEG, named like the inputs; existing outputs
are skipped unless --overwrite. Unreadable files are reported and skipped; the
exit status is 1 if any failed. Video files, and folders named with
--frames, are colorized as clips, their colour carried from frame to frame
(`colorjax.video`).
"""

import functools
import glob
import os
import sys
import types

from absl import flags
import jax
import numpy as np
import tqdm

from colorjax import checkpoint
from colorjax import color
from colorjax import hints as hints_lib
from colorjax import command
from colorjax import images
from colorjax import inference
from colorjax import video
from colorjax.errors import DataError

NATIVE = 'native'
# The most pixels the network is run on, at any resolution (native too):
# beyond, the working size is scaled down to this many, keeping the aspect.
# A hostile 1 x 30,000 file at shorter side 32 asked for 32 x 960,000 and the
# CPU convolution 28 GB.
MAX_WORKING_PIXELS = 2_097_152  # 2048 x 1024.
MAX_ASPECT = 32  # Longer side over shorter side; a photo is far from it.


def bucket(size: int) -> int:
  """`size` rounded up: to a multiple of 32 up to 256, then to one of 4 steps
  per octave (less than 25% more); so few shapes cover any photo size."""
  if size <= 32:
    return 32
  step = 2 ** max(5, (size - 1).bit_length() - 3)
  return -(-size // step) * step


def working_size(height: int, width: int, resolution) -> tuple[int, int]:
  """The size the network sees: shorter side `resolution`, or (height, width)
  if native; scaled down to at most MAX_WORKING_PIXELS pixels.

  Raises:
    ValueError: an image more than MAX_ASPECT times longer than wide.
  """
  if max(height, width) > MAX_ASPECT * min(height, width):
    raise ValueError(f'the image is {width}x{height} pixels, more than {MAX_ASPECT} times '
                     'longer than it is wide; colorjax colorizes photos')
  scale = 1.0 if resolution == NATIVE else int(resolution) / min(height, width)
  scale = min(scale, (MAX_WORKING_PIXELS / (height * width)) ** 0.5)
  if scale == 1.0:
    return height, width
  return max(1, round(height * scale)), max(1, round(width * scale))


def default_resolution(config: dict):
  """The scale a run trained at: its data.resize_shorter, else its crop size."""
  data = config.get('data', {})
  return data.get('resize_shorter') or data.get('image_size') or NATIVE


def parse_resolution(value, config: dict | None = None):
  """'native' or a positive int from a flag's text; ValueError otherwise.

  With the config of the model's run, 'auto' means `default_resolution(config)`.
  """
  if config is not None and str(value) == 'auto':
    return default_resolution(config)
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


# Per-pixel steps run on strips of _STRIP_ROWS rows once an image has more
# than _STRIP_PIXELS pixels, so that a 50-megapixel photo never holds its
# float intermediates all at once (peak memory 1.7 GB instead of 6.5 GB,
# measured on the CPU on 2026-11-26).
_STRIP_ROWS = 512
_STRIP_PIXELS = 1 << 20


def _map_pixels(fn, *arrays: np.ndarray) -> np.ndarray:
  """Applies a jitted per-pixel fn to [batch, h, w, c] arrays on bucketed shapes.

  Large images go through in strips of rows; per-pixel work gives the same
  result either way.
  """
  height, width = arrays[0].shape[1:3]
  if height * width <= _STRIP_PIXELS:
    padded = [pad(a, bucket(height), bucket(width)) for a in arrays]
    return np.asarray(fn(*padded))[:, :height, :width]
  strips = []
  for top in range(0, height, _STRIP_ROWS):
    rows = min(_STRIP_ROWS, height - top)
    padded = [pad(a[:, top:top + rows], _STRIP_ROWS, bucket(width)) for a in arrays]
    strips.append(np.asarray(fn(*padded))[:, :rows, :width])
  return np.concatenate(strips, axis=1)


class Colorizer:
  """A model and its variables, with jitted, shape-bucketed steps.

    colorizer = colorize.Colorizer.pretrained()            # the bundled model, in one call
    colorizer = colorize.Colorizer.pretrained(hints=True)  # the bundled hint model
    colorizer = colorize.Colorizer.from_checkpoint('runs/x')
    rgb = colorizer.colorize(photo)                        # uint8, the photo's size

  These three work at the scale their model trained at (128 for the
  bundles), as colorjax.colorize, evaluate and serve do by default; a
  Colorizer(model, variables) made by hand works at the photo's native size
  unless given `resolution`.
  """

  def __init__(self, model, variables, resolution=NATIVE):
    self.model, self.variables = model, variables
    self.resolution = resolution  # colorize()'s default working resolution.
    self.hinted = hints_lib.reads_hints(model, variables)
    self._lightness = jax.jit(
        lambda rgb: color.normalize(color.rgb_to_lab(rgb))[0])
    self._predict = jax.jit(functools.partial(model.apply, train=False))
    self._compose = jax.jit(color.compose)
    self._gray = jax.jit(color.gray)

  @classmethod
  def from_checkpoint(cls, path: str, **decoding) -> 'Colorizer':
    """The model of a run or step directory (see `inference.load_model`, which
    takes the `decoding` settings), at the scale it trained at."""
    model, variables, info = inference.load_model(path, **decoding)
    return cls(model, variables, default_resolution(info['config']))

  @classmethod
  def pretrained(cls, *, hints: bool = False) -> 'Colorizer':
    """The bundled automatic model, or with hints=True the bundled model that
    also reads colour hints (MODEL_CARD.md), at its working resolution."""
    return cls.from_checkpoint(checkpoint.resolve(None, hints=hints))

  def lightness(self, rgb: np.ndarray) -> np.ndarray:
    """Normalised l [batch, h, w, 1] of uint8 RGB [batch, h, w, 3]."""
    return _map_pixels(self._lightness, rgb)

  def predict_ab(self, l: np.ndarray, resolution, hints=None) -> np.ndarray:
    """Normalised ab [batch, h, w, 2] for full-resolution l [batch, h, w, 1].

    Args:
      hints: for a hint-conditioned model, (hint ab [batch, h, w, 2]
        normalised, mask [batch, h, w, 1]) at l's size (`colorjax.hints`);
        None: no hints.

    Raises:
      ValueError: hints for a model that does not read them.
    """
    return images.resize(self.predict_working(l, resolution, hints)[1], *l.shape[1:3])

  def working_size(self, height: int, width: int, resolution=None) -> tuple[int, int]:
    """The size the network sees for a photo of height x width (`working_size`)."""
    return working_size(height, width, self.resolution if resolution is None else resolution)

  def predict_working(self, l: np.ndarray, resolution, hints=None, small=None):
    """(l, ab) at the working size (`working_size`): the network's input
    lightness and its prediction, before ab is upsampled to l's size; as
    `predict_ab` otherwise (`small`: l already resized to the working size)."""
    height, width = l.shape[1:3]
    small_h, small_w = working_size(height, width, resolution)
    if small is None or small.shape[1:3] != (small_h, small_w):
      small = images.resize(l, small_h, small_w)
    if hints is not None and not self.hinted:
      raise ValueError('This model was not trained with colour hints '
                       '(config.hints.enabled); colorize without them.')
    if self.hinted and hints is None:  # Zeros at the working size, nothing to resize.
      small = np.asarray(hints_lib.without_hints(small))
    elif self.hinted:
      small = np.asarray(hints_lib.network_input(
          small, *hints_lib.resize(*hints, small_h, small_w)))
    padded = pad(small, bucket(small_h), bucket(small_w))
    ab = np.asarray(self._predict(self.variables, padded))[:, :small_h, :small_w]
    return small[..., :1], ab

  def compose(self, l: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """uint8 RGB [batch, h, w, 3] from normalised l and ab of the same size."""
    return _map_pixels(self._compose, l, ab)

  def gray(self, l: np.ndarray) -> np.ndarray:
    """uint8 RGB [batch, h, w, 3] of the gray baseline (`color.gray`)."""
    return _map_pixels(self._gray, l)

  def colorize(self, image: np.ndarray, resolution=None, *, hints=None,
               hint_size: int = hints_lib.DEFAULT_SIZE) -> np.ndarray:
    """Colorizes uint8 gray or RGB images ([h, w], [h, w, c] or a batch of them).

    Args:
      resolution: the working resolution (the shorter side in pixels, or
        NATIVE); default the colorizer's (`pretrained`, `from_checkpoint`:
        the model's training scale).
      hints: for a hint-conditioned model and one image, colours a person
        chose: [(x, y, (r, g, b)), ...] in the image's pixels
        (`hints.from_points`: hue and saturation at the photo's lightness).
      hint_size: side of each hint's square, in the image's pixels.

    Returns:
      uint8 RGB of the input's size (batched if the input was).
    """
    rgb, batched = images.as_rgb_batch(image)
    l = self.lightness(rgb)
    given = None
    if hints:
      if len(l) != 1:
        raise ValueError('Hints are for one image at a time.')
      given = tuple(x[None] for x in hints_lib.from_points(l[0], hints, hint_size))
    resolution = self.resolution if resolution is None else resolution
    out = self.compose(l, self.predict_ab(l, resolution, given))
    return out if batched else out[0]


def colorize(image: np.ndarray, model, variables, resolution=NATIVE) -> np.ndarray:
  """Colorizes uint8 gray or RGB image(s) with `model`; see `Colorizer.colorize`.

  For many calls keep a `Colorizer`, which compiles each shape bucket once.
  """
  return Colorizer(model, variables).colorize(image, resolution)


# ---------------------------------------------------------------- the CLI --

OUTPUT_FORMATS = {'png': '.png', 'jpeg': '.jpg'}


def output_path(out_dir: str, relative: str, fmt: str) -> str:
  return os.path.join(out_dir, os.path.splitext(relative)[0] + OUTPUT_FORMATS[fmt])


def check_distinct_outputs(items, out_dir: str, fmt: str) -> None:
  """Raises ValueError naming two inputs that would be written to one output
  (a.jpg and a.png, or x/p.jpg and y/p.jpg given as files)."""
  first = {}
  for path, relative in items:
    target = output_path(out_dir, relative, fmt)
    if target in first:
      raise ValueError(
          f'{first[target]} and {path} would both be written to {target}; '
          'rename one, or colorize them into different --out folders.')
    first[target] = path


def colorize_file(colorizer: Colorizer, path: str, resolution, fmt: str,
                  hints=None, max_pixels: int | None = None) -> bytes:
  """Reads, colorizes (with `hints`, see `Colorizer.colorize`) and encodes one photo.

  Raises:
    DataError: the file cannot be read as an image, or declares more than
      max_pixels pixels.
  """
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:
    raise DataError(f'cannot read the file ({e.strerror})') from e
  rgb, alpha = images.read_image(data, max_pixels=max_pixels)
  return images.encode(colorizer.colorize(rgb, resolution, hints=hints), alpha, fmt)


def define_decoding_flags() -> dict:
  """--temperature, --adjustment, --confidence and --scene_chroma, how a
  classification model decodes, --saturation for any model and --hint_spread,
  --hint_lightness, --hint_reach and --hint_method for a hint model (by default as its
  checkpoint stores), for the commands that load a model."""
  return {
      'temperature': flags.DEFINE_float(
          'temperature', None, 'Annealed-mean temperature of a classification '
          "model (default: its run's, 0.38); lower is more vivid, 1 the mean."),
      'adjustment': flags.DEFINE_float(
          'adjustment', None, 'Logit adjustment of a classification model '
          "(default: its run's, 0): the share of the class rebalancing's bias "
          'taken back; higher is duller and closer to the truth on average.'),
      'confidence': flags.DEFINE_float(
          'confidence', None, 'Confidence weighting of a classification model '
          "(default: its run's, 0: off): k > 0 keeps the temperature's vivid "
          'colour where the network is sure (weight min(1, k * max p)) and its '
          'mean colour where it is not.'),
      'scene_chroma': flags.DEFINE_float(
          'scene_chroma', None, 'Scene gate of a classification model '
          "(default: its run's, 0: off): c > 0 keeps the share min(1, m / c) of a "
          "photo's colour, m the mean chroma (LAB) of the network's mean colours "
          'over the photo, so scenes it expects nearly neutral stay nearly gray.'),
      'saturation': flags.DEFINE_float(
          'saturation', None, "Chroma gain on any model's colours (default: "
          "its checkpoint's, 1); above 1 is more colourful, at some PSNR."),
      'hint_spread': flags.DEFINE_float(
          'hint_spread', None, "A hint model's propagation (default: its "
          "checkpoint's; 0: off): how far a hint's colour carries to pixels of "
          "its lightness, as a share of the shorter side (see hints.propagate)."),
      'hint_lightness': flags.DEFINE_float(
          'hint_lightness', None, 'How close in normalised lightness (-1..1) a '
          "pixel must be to take a hint's colour (default: its checkpoint's)."),
      'hint_reach': flags.DEFINE_float(
          'hint_reach', None, "How far the propagated colour replaces the network's "
          "(default: its checkpoint's; higher is further; method affinity only)."),
      'hint_method': flags.DEFINE_enum(
          'hint_method', None, hints_lib.METHODS, "How hints propagate (default: its "
          "checkpoint's, else affinity): affinity blends towards nearby hints of the "
          "pixel's lightness; optimize solves Levin et al.'s colorization by "
          'optimisation, the network as a prior (see hints.optimize).')}


def decoding_settings(args) -> dict:
  """The values of `define_decoding_flags`' flags, as `inference.load_model` takes them."""
  return {k: getattr(args, k).value for k in
          ('temperature', 'adjustment', 'confidence', 'scene_chroma', 'saturation')
          + hints_lib.PROPAGATION_KEYS}


def _define_flags():
  """The CLI's flags; defined only when this module runs as the program."""
  return types.SimpleNamespace(
      **define_decoding_flags(),
      checkpoint=flags.DEFINE_string(
          'checkpoint', None, 'Run directory or step directory of the model; '
          'default: the bundled model.'),
      out=flags.DEFINE_string('out', None, 'Output directory.'),
      resolution=flags.DEFINE_string(
          'resolution', 'auto', 'Working resolution: shorter side in pixels, '
          '"native", or auto (the scale the model trained at).'),
      format=flags.DEFINE_enum('format', 'png', list(OUTPUT_FORMATS), 'Output format.'),
      overwrite=flags.DEFINE_bool('overwrite', False, 'Redo outputs that exist.'),
      max_megapixels=flags.DEFINE_float(
          'max_megapixels', 0, 'Photos declaring more megapixels fail unread (0: only '
          "Pillow's own limit, 179)."),
      hints=flags.DEFINE_string(
          'hints', None, 'For a hint-conditioned model: a JSON file of colour hints '
          'per photo, {"photo.jpg": [{"x": 120, "y": 80, "rgb": [200, 30, 30]}]}, '
          'and per clip by frame number, {"clip.mp4": {"0": [...]}}.'),
      frames=flags.DEFINE_bool(
          'frames', False, 'Each folder named is the frames of one clip (in name '
          'order), not a folder of photos.'),
      video_output=flags.DEFINE_enum(
          'video_output', 'same', list(video.VIDEO_OUTPUTS), 'What a clip becomes: '
          '"same" (a video in its own container; frames for a frame folder), '
          '"frames" (a folder of PNG frames) or a container (mp4, mkv, ...).'),
      temporal=flags.DEFINE_bool(
          'temporal', True, "Carry a clip's colour along optical flow from frame "
          'to frame (colorjax.temporal); --notemporal colorizes each frame alone.'),
      fps=flags.DEFINE_float('fps', video.DEFAULT_FPS, "A frame folder's frame rate."))


def run(colorizer: Colorizer, items, out_dir: str, resolution, fmt: str,
        overwrite: bool, log=sys.stderr, hints=None,
        max_pixels: int | None = None) -> dict[str, int]:
  """Colorizes `items` [(path, relative output)] into out_dir; returns the
  counts. `hints`: {relative output or file name: points} (`hints.load_file`);
  photos declaring more than max_pixels pixels fail unread."""
  hints = hints or {}
  counts = {'done': 0, 'skipped': 0, 'failed': 0}
  # Count, rate and time left on a terminal; nothing when log is not one.
  bar = tqdm.tqdm(items, desc='colorize', unit='photo', file=log, disable=None,
                  dynamic_ncols=True)
  for path, relative in bar:
    target = output_path(out_dir, relative, fmt)
    if os.path.exists(target) and not overwrite:
      counts['skipped'] += 1
      continue
    try:
      points = hints.get(relative, hints.get(os.path.basename(path)))
      data = colorize_file(colorizer, path, resolution, fmt, points, max_pixels)
    except (DataError, ValueError) as e:
      bar.write(f'failed: {path}: {e}', file=log)
      counts['failed'] += 1
      continue
    os.makedirs(os.path.dirname(target) or '.', exist_ok=True)
    with open(target + '.partial', 'wb') as f:
      f.write(data)
    os.replace(target + '.partial', target)  # No half-written outputs.
    counts['done'] += 1
  bar.close()
  return counts


def run_clips(colorizer: Colorizer, clips, out_dir: str, resolution, *, video_output: str,
              overwrite: bool, stabilize: bool, fps: float, log=sys.stderr,
              hints=None) -> dict[str, int]:
  """Colorizes clips [(path, relative output folder)] (video files or frame
  folders, `colorjax.video`) into out_dir; returns the counts."""
  hints = hints or {}
  counts = {'done': 0, 'skipped': 0, 'failed': 0}
  for path, relative in clips:
    target = video.output_path(os.path.join(out_dir, relative), path, video_output)
    if os.path.exists(target) and not overwrite:
      counts['skipped'] += 1
      continue
    name = os.path.basename(os.path.normpath(path))
    given = hints.get(os.path.join(relative, name), hints.get(name))
    if given is not None and not isinstance(given, dict):
      given = {0: given}  # Hints for a clip given as a photo's: on its first frame.
    try:
      video.colorize_video(colorizer, path, target, resolution, stabilize=stabilize,
                           hints=given, fps=fps, log=log)
    except (DataError, ValueError) as e:
      print(f'failed: {path}: {e}', file=log)
      counts['failed'] += 1
      continue
    counts['done'] += 1
  return counts


def collect_clips(inputs: list[str], frames: bool):
  """Splits the command's inputs into clips [(path, relative output
  folder)] (video files named, matched or inside folders; with `frames`,
  the folders named) and the rest, for `images.collect`."""
  clips, rest = [], []
  for item in inputs:
    matches = sorted(glob.glob(item, recursive=True)) if glob.has_magic(item) else [item]
    if not any(os.path.exists(m) for m in matches):
      rest.append(item)  # images.collect reports it missing.
      continue
    for match in matches:
      if (os.path.isdir(match) and frames) or (os.path.isfile(match) and video.is_video(match)):
        clips.append((match, ''))
        continue
      rest.append(match)
      if os.path.isdir(match):
        found = sorted(glob.glob(os.path.join(glob.escape(match), '**', '*'), recursive=True))
        clips += [(p, os.path.dirname(os.path.relpath(p, match))) for p in found
                  if os.path.isfile(p) and video.is_video(p)]
  return clips, rest


def main(argv, args) -> int:
  inputs = argv[1:]
  if not inputs:
    raise ValueError('Name the photos to colorize: files, folders or globs.')
  if not args.out.value:
    raise ValueError('Name the output folder with --out=DIR.')
  clips, inputs = collect_clips(inputs, args.frames.value)
  items, missing = images.collect(inputs) if inputs else ([], [])
  check_distinct_outputs(items, args.out.value, args.format.value)
  for item in missing:
    print(f'failed: {item}: no such file, folder or match', file=sys.stderr)
  model, variables, info = inference.load_model(
      checkpoint.resolve(args.checkpoint.value, hints=bool(args.hints.value)),
      **decoding_settings(args))
  resolution = parse_resolution(args.resolution.value, info['config'])
  colorizer = Colorizer(model, variables)
  given = hints_lib.load_file(args.hints.value) if args.hints.value else None
  if given and not colorizer.hinted:
    raise ValueError('This model was not trained with colour hints; colorize '
                     'without --hints, or use a hint-conditioned model.')
  counts = run(colorizer, items, args.out.value, resolution,
               args.format.value, args.overwrite.value, hints=given,
               max_pixels=int(args.max_megapixels.value * 1e6) or None)
  clip_counts = run_clips(colorizer, clips, args.out.value, resolution,
                          video_output=args.video_output.value,
                          overwrite=args.overwrite.value, stabilize=args.temporal.value,
                          fps=args.fps.value, hints=given)
  counts = {k: counts[k] + clip_counts[k] for k in counts}
  counts['failed'] += len(missing)
  print(f'{counts["done"]} colorized, {counts["skipped"]} already done (use '
        f'--overwrite to redo), {counts["failed"]} failed; resolution '
        f'{resolution}, outputs in {args.out.value}', file=sys.stderr)
  return 1 if counts['failed'] else 0


def cli():
  """`colorjax-colorize` (installed with the package): the same as `python -m colorjax.colorize`."""
  command.run(__name__, main, _define_flags, positional=True)


if __name__ == '__main__':
  cli()

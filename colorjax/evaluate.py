"""Evaluates a checkpoint on real photos at full resolution, beside the gray baseline.

  python -m colorjax.evaluate --workdir=runs/quickstart \
      --data=../shared/data/eval/kodak24 --out=runs/quickstart/eval_kodak24

--data is a folder of images (recursive) or a TFDS split as tfds:NAME:SPLIT.
Every photo is colorized at its own size: ab predicted at the working
resolution (--resolution: shorter side N, or native), upsampled to the photo
and joined with its own L, exactly as `colorjax.colorize` does. The gray
baseline (L kept, a = b = 0) is scored by the same code in the same run.

Writes metrics.json ({"model", "gray", "settings"}), per_image.csv and
grid.png (gray | prediction | truth for the first --grid_images photos in
the sorted order of their names), and prints a table.
"""

import csv
import datetime
import json
import os
import types
import zlib

from absl import flags
from absl import logging
import jax
import numpy as np
from PIL import Image
from PIL import ImageDraw
import tqdm

from colorjax import checkpoint
from colorjax import colorize
from colorjax import color
from colorjax import command
from colorjax import hints
from colorjax import inference
from colorjax import metrics
from colorjax import sources
from colorjax.errors import DataError

METRIC_KEYS = ('psnr', 'ssim', 'mse_ab', 'accuracy', 'precision', 'recall',
               'f1', 'auc', 'auc_rebalanced', 'colorfulness', 'colorfulness_gt',
               'delta_cf')
_PER_IMAGE_KEYS = ('psnr', 'ssim', 'mse_ab', 'colorfulness', 'colorfulness_gt')
_GRID_HEIGHT = 160  # Pixels per grid row.


_SCORE = jax.jit(metrics.score)  # Shared: evaluators of one shape bucket compile it once.
_TRUE_AB = jax.jit(lambda rgb: color.normalize(color.rgb_to_lab(rgb))[1])


def photo_hints(rgb: np.ndarray, name: str, count: int, resolution):
  """`count` hints simulated from a photo's truth (`hints.evaluation_hints`),
  as [1, h, w, 2] and [1, h, w, 1]: 6x6 patches at the working resolution
  (larger on the photo when the model sees it smaller), at positions seeded
  by the photo's name, the same for every model; a larger count adds hints
  to those of a smaller one."""
  height, width = rgb.shape[:2]
  small = min(colorize.working_size(height, width, resolution))
  size = max(1, round(hints.EVAL_PATCH * min(height, width) / small))
  ab = np.asarray(_TRUE_AB(rgb))
  hint_ab, mask = hints.evaluation_hints(
      ab, count, seed=zlib.crc32(name.encode()), size=size)
  return hint_ab[None], mask[None]


class Evaluator:
  """Colorizes and scores images one by one, pooling what the metrics need."""

  def __init__(self, colorizer: colorize.Colorizer, resolution, *, hint_count: int = 0):
    self.colorizer, self.resolution, self.hint_count = colorizer, resolution, hint_count
    self.rows, self.pooled = [], {'model': None, 'gray': None}

  def add(self, name: str, rgb: np.ndarray, *, with_gray: bool = False, ab=None):
    """Scores one uint8 RGB photo.

    Args:
      ab: the prediction [1, h, w, 2] (normalised, the photo's size) if
        already made; by default the colorizer makes it.

    Returns:
      (the model's colorization, the gray baseline's if with_gray else None).
    """
    batch = rgb[None]
    l = self.colorizer.lightness(batch)
    if ab is None:
      given = (photo_hints(rgb, name, self.hint_count, self.resolution)
               if self.hint_count else None)
      ab = self.colorizer.predict_ab(l, self.resolution, given)
    pred = self.colorizer.compose(l, ab)
    height, width = rgb.shape[:2]
    size = (colorize.bucket(height), colorize.bucket(width))
    mask = np.zeros(size, bool)
    mask[:height, :width] = True
    pad = lambda x: colorize.pad(x, *size)[0]
    scores = jax.device_get(_SCORE(pad(batch), pad(pred), pad(ab), mask))
    row = {'image': name, 'height': height, 'width': width}
    for kind, score in zip(('model', 'gray'), scores):
      prefix = '' if kind == 'model' else 'gray_'
      row.update({prefix + k: float(score[k]) for k in _PER_IMAGE_KEYS})
      counts = {k: np.asarray(score[k], np.float64)
                for k in ('confusion', 'ab_error_histogram')}
      pooled = self.pooled[kind]
      self.pooled[kind] = counts if pooled is None else {
          k: pooled[k] + counts[k] for k in counts}
    self.rows.append(row)
    gray = self.colorizer.gray(l)[0] if with_gray else None
    return pred[0], gray

  def summary(self) -> dict[str, dict[str, float]]:
    """Per-image means and pooled-pixel metrics for 'model' and 'gray'."""
    out = {}
    for kind in ('model', 'gray'):
      prefix = '' if kind == 'model' else 'gray_'
      means = {k: float(np.mean([r[prefix + k] for r in self.rows]))
               for k in _PER_IMAGE_KEYS}
      means.update(metrics.classification_metrics(self.pooled[kind]['confusion']))
      means.update(metrics.auc(self.pooled[kind]['ab_error_histogram']))
      means['delta_cf'] = means['colorfulness_gt'] - means['colorfulness']
      out[kind] = {k: means[k] for k in METRIC_KEYS}
    return out


def folder_means(rows: list[dict], folder) -> dict[str, dict]:
  """Mean PSNR of the model and of gray per folder, and the share of its
  photos the model scores below gray: per-image rows (as `Evaluator.rows`)
  grouped by folder(name) (`sources.folder_of`)."""
  groups = {}
  for row in rows:
    groups.setdefault(folder(row['image']), []).append(row)
  return {name: {'images': len(group),
                 'psnr': float(np.mean([r['psnr'] for r in group])),
                 'gray_psnr': float(np.mean([r['gray_psnr'] for r in group])),
                 'below_gray': float(np.mean([r['psnr'] < r['gray_psnr'] for r in group]))}
          for name, group in sorted(groups.items())}


def grid_image(rows: list[tuple[np.ndarray, ...]]) -> np.ndarray:
  """Rows of same-size images side by side (gray | prediction | truth, or more
  columns), each row scaled to one height, on white."""
  strips = []
  for row in rows:
    width = max(1, round(row[0].shape[1] * _GRID_HEIGHT / row[0].shape[0]))
    scaled = [np.asarray(Image.fromarray(x).resize((width, _GRID_HEIGHT), Image.BILINEAR))
              for x in row]
    strips.append(np.concatenate(scaled, axis=1))
  canvas = np.full((len(strips) * _GRID_HEIGHT, max(s.shape[1] for s in strips), 3),
                   255, np.uint8)
  for i, strip in enumerate(strips):
    canvas[i * _GRID_HEIGHT:(i + 1) * _GRID_HEIGHT, :strip.shape[1]] = strip
  return canvas


def evaluate(colorizer, source, names, resolution, *, grid_images: int = 6,
             hint_count: int = 0):
  """Scores every readable image of `source` (with `hint_count` hints each,
  for a hint-conditioned model; see `photo_hints`).

  Returns:
    (summary {'model', 'gray'}, per-image rows, grid or None, skipped
    [(name, reason)]).
  """
  evaluator = Evaluator(colorizer, resolution, hint_count=hint_count)
  grid_rows, skipped = [], []
  # Count, rate and time left on a terminal; nothing when stderr is not one.
  for index, name in enumerate(tqdm.tqdm(names, desc='evaluate', unit='photo',
                                         disable=None, dynamic_ncols=True)):
    try:
      rgb = source.load(index)
    except DataError as e:
      logging.warning('Skipping %s: %s', name, e)
      skipped.append((name, str(e)))
      continue
    in_grid = len(grid_rows) < grid_images
    pred, gray = evaluator.add(name, rgb, with_gray=in_grid)
    if in_grid:
      grid_rows.append((gray, pred, rgb))
  if not evaluator.rows:
    raise DataError(
        f'None of the {len(names)} images could be read; see the warnings above.')
  grid = grid_image(grid_rows) if grid_rows else None
  return evaluator.summary(), evaluator.rows, grid, skipped


def format_table(summary: dict) -> str:
  """The model and gray metrics side by side, one metric a line."""
  lines = [f'{"metric":<16}{"model":>10}{"gray":>10}']
  for key in METRIC_KEYS:
    lines.append(f'{key:<16}{summary["model"][key]:>10.4f}{summary["gray"][key]:>10.4f}')
  return '\n'.join(lines)


def write_outputs(out_dir, summary, rows, grid, settings) -> None:
  """metrics.json, per_image.csv and grid.png in out_dir."""
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'metrics.json'), 'w') as f:
    json.dump({**summary, 'settings': settings}, f, indent=2)
  with open(os.path.join(out_dir, 'per_image.csv'), 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  if grid is not None:
    Image.fromarray(grid).save(os.path.join(out_dir, 'grid.png'))


def hint_counts(values: list[str]) -> list[int]:
  """--hints as counts.

  Raises:
    ValueError: not counts of 0 or more.
  """
  try:
    counts = [int(v) for v in values]
  except ValueError:
    counts = [-1]
  if not counts or min(counts) < 0:
    raise ValueError(f'--hints takes counts of 0 or more, e.g. 0,1,2,5,10, '
                     f'not {",".join(values)!r}.')
  return counts


def plot_hint_curve(by_count: dict, path: str) -> None:
  """PSNR against the number of hints (model: blue, gray baseline: gray), a PNG."""
  width, height, margin = 640, 400, 56
  counts = sorted(by_count)
  model = [by_count[n]['model']['psnr'] for n in counts]
  gray = by_count[counts[0]]['gray']['psnr']
  low, high = min(model + [gray]) - 1, max(model + [gray]) + 1
  x = lambda i: margin + i * (width - 2 * margin) / max(1, len(counts) - 1)
  y = lambda v: height - margin - (v - low) / (high - low) * (height - 2 * margin)
  image = Image.new('RGB', (width, height), 'white')
  draw = ImageDraw.Draw(image)
  draw.line([(margin, margin), (margin, height - margin), (width - margin, height - margin)],
            fill='black')
  draw.line([(margin, y(gray)), (width - margin, y(gray))], fill=(150, 150, 150))
  draw.text((width - margin - 110, y(gray) - 14), f'gray {gray:.2f} dB', fill=(120, 120, 120))
  draw.line([(x(i), y(v)) for i, v in enumerate(model)], fill=(30, 90, 200), width=2)
  for i, (n, v) in enumerate(zip(counts, model)):
    draw.ellipse([x(i) - 3, y(v) - 3, x(i) + 3, y(v) + 3], fill=(30, 90, 200))
    draw.text((x(i) - 6, height - margin + 6), str(n), fill='black')
    draw.text((x(i) - 14, y(v) - 18), f'{v:.2f}', fill=(30, 90, 200))
  draw.text((width // 2 - 60, height - 22), 'hints per photo', fill='black')
  draw.text((8, 8), 'PSNR (dB), model and gray baseline', fill='black')
  image.save(path)


def _define_flags():
  """The command's flags; defined only when this module runs as the program."""
  return types.SimpleNamespace(
      workdir=flags.DEFINE_string('workdir', None, 'Run directory to evaluate (its latest checkpoint).'),
      checkpoint=flags.DEFINE_string(
          'checkpoint', None, 'A run directory or one step directory; overrides '
          '--workdir. With neither, the bundled model.'),
      data=flags.DEFINE_string('data', None, 'Folder of images, or tfds:NAME:SPLIT.'),
      held_out=flags.DEFINE_string(
          'held_out', None, 'Instead of --data: the photos the run in this directory '
          'held out from training (its eval split), e.g. to choose between models '
          'without looking at a test set.'),
      out=flags.DEFINE_string('out', None, 'Directory for metrics.json, per_image.csv, grid.png.'),
      resolution=flags.DEFINE_string(
          'resolution', 'auto', 'Working resolution: shorter side in pixels, "native", '
          "or auto (the run's training scale)."),
      grid_images=flags.DEFINE_integer('grid_images', 6, 'Photos in grid.png (the first, by name).'),
      tfds_data_dir=flags.DEFINE_string('tfds_data_dir', None, 'TFDS data_dir for tfds: sources.'),
      hints=flags.DEFINE_list(
          'hints', ['0'], 'For a hint-conditioned model: hints per photo, or a sweep '
          '(0,1,2,5,10,20,50); each count is scored, and a sweep is plotted.'),
      **colorize.define_decoding_flags())


def main(argv, args):
  if not (args.data.value or args.held_out.value) or not args.out.value:
    raise ValueError('Name the photos with --data=FOLDER (or tfds:NAME:SPLIT, or '
                     '--held_out=RUN_DIR) and the output folder with --out=DIR.')
  if args.data.value and args.held_out.value:
    raise ValueError('Pass --data or --held_out, not both.')
  counts = hint_counts(args.hints.value)
  path = checkpoint.resolve(args.checkpoint.value or args.workdir.value,
                            hints=counts != [0])
  model, variables, info = inference.load_model(path, **colorize.decoding_settings(args))
  resolution = colorize.parse_resolution(args.resolution.value, info['config'])
  colorizer = colorize.Colorizer(model, variables)
  if counts != [0] and not colorizer.hinted:
    raise ValueError(f'{path} was not trained with colour hints; evaluate it '
                     'without --hints.')
  if args.held_out.value:
    held_out_config = checkpoint.load_config(args.held_out.value)
    source, names = sources.held_out(held_out_config)
    folder = sources.folder_of(held_out_config, None)
  else:
    source, names = sources.open_images(args.data.value, args.tfds_data_dir.value)
    folder = sources.folder_of(None, args.data.value)
  by_count = {}
  for count in counts:
    result = evaluate(colorizer, source, names, resolution,
                      grid_images=args.grid_images.value, hint_count=count)
    by_count[count] = result[0]
    if count == counts[0]:
      summary, rows, grid, skipped = result
  settings = {'checkpoint': info['path'], 'step': info['step'],
              'model': info['config']['model']['name'],
              'data': args.data.value or f'held out by {args.held_out.value}',
              'resolution': resolution, 'images': len(rows),
              'below_gray': float(np.mean([r['psnr'] < r['gray_psnr'] for r in rows])),
              'temperature': getattr(model, 'temperature', None),
              'adjustment': getattr(model, 'adjustment', None),
              'confidence': getattr(model, 'confidence', None),
              'scene_chroma': getattr(model, 'scene_chroma', None),
              'saturation': getattr(model, 'saturation', 1.0),
              'hint_propagation': getattr(model, 'settings', None),
              'skipped': len(skipped), 'skipped_images': dict(skipped),
              'grid_images': [r['image'] for r in rows[:args.grid_images.value]],
              'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
              'device': jax.devices()[0].device_kind}
  by_folder = folder_means(rows, folder)
  if len(by_folder) > 1:
    settings['by_folder'] = by_folder
  if colorizer.hinted:
    settings['hints'] = counts[0]
    settings['by_hints'] = {str(n): s for n, s in by_count.items()}
  write_outputs(args.out.value, summary, rows, grid, settings)
  if len(counts) > 1:
    plot_hint_curve(by_count, os.path.join(args.out.value, 'psnr_vs_hints.png'))
    for count, scores in by_count.items():
      print(f'{count:>3} hints: PSNR {scores["model"]["psnr"]:.2f} dB '
            f'(gray {scores["gray"]["psnr"]:.2f})')
  print(f'{len(rows)} images ({len(skipped)} skipped) from {settings["data"]}, '
        f'checkpoint step {info["step"]}, resolution {resolution}:')
  print(format_table(summary))
  below = np.mean([r['psnr'] < r['gray_psnr'] for r in rows])
  print(f'below gray: {below:.0%} of the images')
  if len(by_folder) > 1:
    for name, scores in by_folder.items():
      count = scores['images']
      print(f'{name}, {count} image{"s" if count != 1 else ""}: PSNR {scores["psnr"]:.2f} dB '
            f'(gray {scores["gray_psnr"]:.2f}, {scores["psnr"] - scores["gray_psnr"]:+.2f}), '
            f'{scores["below_gray"]:.0%} below gray')


def cli():
  """`colorjax-evaluate` (installed with the package): the same as `python -m colorjax.evaluate`."""
  command.run(__name__, main, _define_flags)


if __name__ == '__main__':
  cli()

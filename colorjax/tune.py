"""Tunes how a model decodes its colours, on photos it did not train on.

  python -m colorjax.tune --checkpoint=runs/unet_classification \
      --out=runs/unet_classification/tune --export=runs/unet_classification_tuned

For a classification model, scores every combination of --adjustments,
--temperatures, --confidences and --scene_chromas (see
`classification.Decoded`); for a regression model, every --saturations (a
chroma gain on its ab; see `tasks.base.Saturated`). Scores come from colorjax.evaluate's code on
--data, by default the run's own eval split (for a folder source, the photos
held out from training; for TFDS its eval split, so pass a validation set
with --data), and chooses the most colourful setting whose mean PSNR stays above the gray
baseline's by at least --min_gain_db and, with --min_folder_gain_db, whose
mean PSNR on each folder's photos alone stays above gray's by that much (a
run trained on 'A,B' holds out photos of both; a setting that helps on A's
photos can hide a loss on B's in the mean). Nothing else is tuned on, so
figures on other sets (Kodak24, CBSD68) stay clean. A hint-conditioned model
is scored with --hints simulated hints per photo (as colorjax.evaluate's),
each setting also with every hint propagation of --hint_methods x
--hint_spreads x --hint_lightnesses (x --hint_reaches for the affinity
method; see `hints.propagate`); --best_psnr
chooses by PSNR alone, as for a hint model, whose colours the hints decide.

Writes tune.json (every setting's scores, the choice and the run's settings)
to --out and prints the table; with --export, also the model with the chosen
setting stored as its default, which evaluate, colorize, serve and compare
then use without flags.
"""

import datetime
import json
import os
import sys
import types

from absl import flags
from absl import logging
import jax
import jax.numpy as jnp

from colorjax import colorize
from colorjax import command
from colorjax import evaluate
from colorjax import hints
from colorjax import inference
from colorjax import sources
from colorjax import tasks
from colorjax.errors import DataError


def held_out_photos(config: dict, data: str | None):
  """(source, names): --data if given, else the eval split of the run's data."""
  return sources.open_images(data) if data else sources.held_out(config)


class _AllSettings:
  """A network decoded with every setting at once: `apply` returns their
  normalised ab side by side, [..., 2 * len(settings)], so each photo goes
  through the network once however many settings are scored."""

  def __init__(self, config: dict, settings: list[dict]):
    task = tasks.of(config)
    self.net = task.create_model(config)
    self.decoders = [task.decoder(config, **_task_settings(s)) for s in settings]
    self.propagations = [hints.propagation_settings(
        {}, **{k: s.get(k) for k in hints.PROPAGATION_KEYS}) for s in settings]

  def apply(self, variables, l, *, train: bool = False):
    out = self.net.apply(variables, l, train=train)
    decoded = []
    for decode, propagation in zip(self.decoders, self.propagations):
      ab = decode(out)
      decoded.append(ab if propagation is None else hints.propagate(l, ab, **propagation))
    return jnp.concatenate(decoded, axis=-1)


def _task_settings(setting: dict) -> dict:
  """A setting's decoding keys, without the hint propagation's."""
  return {k: v for k, v in setting.items() if k not in hints.PROPAGATION_KEYS}


def settings_grid(config: dict, adjustments, temperatures, saturations,
                  confidences=(0.0,), propagations=None,
                  scene_chromas=(0.0,)) -> list[dict]:
  """The settings to score, as the model's task tunes: adjustment x
  temperature x confidence x scene chroma for a classification model, the
  saturations for the others, each x each of `propagations` ({hint_spread, hint_lightness,
  hint_reach, hint_method}; see `hints.propagate`), which only a hint-conditioned model
  takes (`tasks.inference_model` refuses them for another)."""
  grid = tasks.of(config).tuning_grid(adjustments=adjustments,
                                      temperatures=temperatures,
                                      confidences=confidences,
                                      scene_chromas=scene_chromas,
                                      saturations=saturations)
  if not propagations or (propagations == [{'hint_spread': 0.0}] and not hints.enabled(config)):
    return grid  # A plain model's rows name no propagation unless one is asked for.
  return [{**s, **p} for s in grid for p in propagations]


def propagation_grid(spreads, lightnesses, reaches, methods=('affinity',)) -> list[dict]:
  """Every hint propagation of the given values; a spread of 0 (off) once,
  and the reaches with the affinity method only (optimize takes none)."""
  grid = [{'hint_spread': 0.0}] if 0 in spreads else []
  for method in methods:
    reach = [{'hint_reach': r} for r in reaches] if method == 'affinity' else [{}]
    grid += [{'hint_spread': s, 'hint_lightness': l, **r, 'hint_method': method}
             for s in spreads if s != 0 for l in lightnesses for r in reach]
  return grid


def score_settings(config: dict, variables, source, names, resolution, settings,
                   log=sys.stderr, folder=None, hint_count: int = 0,
                   bank=None) -> tuple[list[dict], int]:
  """One row of mean scores (and the gray baseline's PSNR) per setting, and
  how many photos were scored.

  Args:
    config, variables: a checkpoint's (`inference.load_model`).
    settings: from `settings_grid`.
    folder: name -> folder (`sources.folder_of`); each row then also holds
      'folders': {folder: {'images', 'psnr', 'gray_psnr'}}.
    hint_count: for a hint-conditioned model, score with this many hints
      simulated from each photo's truth (`evaluate.photo_hints`, as
      `colorjax.evaluate --hints`).
    bank: what decodes the network's output with every setting at once, its
      `apply` giving their normalised ab side by side (default:
      `_AllSettings(config, settings)`); for decodings the tasks do not offer
      (benchmarks/decoding_frontier.py).
  """
  bank = bank or _AllSettings(config, settings)
  colorizer = colorize.Colorizer(bank, variables)
  evaluators = [evaluate.Evaluator(colorizer, resolution) for _ in settings]
  for index, name in enumerate(names):
    try:
      rgb = source.load(index)
    except DataError as e:
      print(f'Skipping {name}: {e}', file=log)
      continue
    given = (evaluate.photo_hints(rgb, name, hint_count, resolution)
             if hint_count else None)
    ab = colorizer.predict_ab(colorizer.lightness(rgb[None]), resolution, given)
    for k, evaluator in enumerate(evaluators):
      evaluator.add(name, rgb, ab=ab[..., 2 * k:2 * k + 2])
    if (index + 1) % 10 == 0:
      logging.info('Scored %d/%d photos in %d settings.', index + 1, len(names),
                   len(settings))
  if not evaluators[0].rows:
    raise DataError(f'None of the {len(names)} photos could be read.')
  rows = []
  for setting, evaluator in zip(settings, evaluators):
    summary = evaluator.summary()
    scores, gray = summary['model'], summary['gray']
    rows.append({**setting, 'psnr': scores['psnr'], 'gray_psnr': gray['psnr'],
                 'ssim': scores['ssim'], 'colorfulness': scores['colorfulness'],
                 'colorfulness_gt': scores['colorfulness_gt']})
    if folder:
      rows[-1]['folders'] = evaluate.folder_means(evaluator.rows, folder)
    print(format_row(rows[-1]), file=log, flush=True)
  return rows, len(evaluators[0].rows)


def worst_folder_gain(row: dict) -> float:
  """The lowest PSNR gain over gray of any folder's photos in a scored row."""
  return min(f['psnr'] - f['gray_psnr'] for f in row['folders'].values())


def folder_margin(row: dict, min_folder_gain_db: float, folder_gains: dict | None = None) -> float:
  """How far the worst folder of a scored row is above its required gain over
  gray: `folder_gains` {folder name: dB} for the folders it names (a folder
  matches by its path or its last component), min_folder_gain_db for the rest."""
  folder_gains = folder_gains or {}

  def required(folder: str) -> float:
    name = sources.folder_name(folder)
    return folder_gains.get(folder, folder_gains.get(name, min_folder_gain_db))
  return min(f['psnr'] - f['gray_psnr'] - required(name) for name, f in row['folders'].items())


def choose(rows: list[dict], min_gain_db: float = 0.0,
           min_folder_gain_db: float | None = None,
           best_psnr: bool = False, folder_gains: dict | None = None) -> tuple[dict, str]:
  """The most colourful row whose PSNR beats gray's by min_gain_db (and, if
  min_folder_gain_db is set, whose every folder beats gray's by that, or by
  what `folder_gains` names for it, e.g. {'train_neutral': -0.5} for photos
  that gray already gets nearly right), and why; when none does, the row
  with the best PSNR (the best worst folder, with the folder condition).
  With best_psnr, the row with the best PSNR."""
  if best_psnr:
    return max(rows, key=lambda r: r['psnr']), 'the best PSNR'
  if folder_gains and min_folder_gain_db is None:
    min_folder_gain_db = float('-inf')
  margin = lambda row: folder_margin(row, min_folder_gain_db, folder_gains)

  def eligible(row):
    if row['psnr'] - row['gray_psnr'] < min_gain_db:
      return False
    return min_folder_gain_db is None or margin(row) >= 0
  rule = f'PSNR at least {min_gain_db} dB above gray'
  if min_folder_gain_db is not None and min_folder_gain_db > float('-inf'):
    rule += f' and at least {min_folder_gain_db} dB above it on every folder'
  for name, gain in sorted((folder_gains or {}).items()):
    rule += f', {gain:+g} dB on {name}'
  passing = [r for r in rows if eligible(r)]
  if passing:
    return max(passing, key=lambda r: r['colorfulness']), f'the most colourful setting with {rule}'
  if min_folder_gain_db is not None:
    return (max(rows, key=margin),
            f'no setting has {rule}; the best PSNR on the worst folder')
  return max(rows, key=lambda r: r['psnr']), f'no setting has {rule}; the best PSNR'


def format_row(row: dict) -> str:
  setting = ' '.join(f'{k} {row[k]:<5}' if isinstance(row[k], str) else f'{k} {row[k]:<5g}'
                     for k in ('adjustment', 'temperature', 'confidence', 'scene_chroma',
                               'saturation')
                     + hints.PROPAGATION_KEYS
                     if k in row and not (k == 'saturation' and 'adjustment' in row))
  line = (f'{setting} PSNR {row["psnr"]:.2f} dB (gray {row["gray_psnr"]:.2f}), colourfulness '
          f'{row["colorfulness"]:.1f} = {row["colorfulness"] / row["colorfulness_gt"]:.0%} '
          'of the truth\'s')
  if len(row.get('folders', {})) > 1:
    line += '; worst folder {:+.2f} dB'.format(worst_folder_gain(row))
  return line


def _define_flags():
  """The command's flags; defined only when this module runs as the program."""
  return types.SimpleNamespace(
      checkpoint=flags.DEFINE_string('checkpoint', None, 'Run or step directory.'),
      data=flags.DEFINE_string('data', None, 'Held-out photos: a folder or tfds:NAME:SPLIT '
                               "(default: the run's eval split)."),
      out=flags.DEFINE_string('out', None, 'Directory for tune.json.'),
      export=flags.DEFINE_string('export', None, 'Also write the model with the '
                                 'chosen setting as its default to this folder.'),
      resolution=flags.DEFINE_string('resolution', 'auto', 'Working resolution '
                                     '(see colorjax.evaluate).'),
      adjustments=flags.DEFINE_list('adjustments', ['0', '0.1', '0.15', '0.2', '0.25', '0.3'],
                                    'Logit adjustments to try.'),
      temperatures=flags.DEFINE_list('temperatures', ['0.1', '0.2', '0.3', '0.38', '0.5'],
                                     'Annealed-mean temperatures to try.'),
      confidences=flags.DEFINE_list('confidences', ['0'], 'Confidence weightings to try '
                                    '(0: off; see classification.Decoded).'),
      scene_chromas=flags.DEFINE_list('scene_chromas', ['0'], 'Scene gates to try (0: off; '
                                      'the mean chroma, LAB units, below which a photo '
                                      'fades towards gray; see classification.Decoded).'),
      saturations=flags.DEFINE_list('saturations', ['1', '1.1', '1.2', '1.3', '1.4', '1.5'],
                                    "Chroma gains to try (a regression model's setting)."),
      hint_spreads=flags.DEFINE_list(
          'hint_spreads', ['0'], "A hint model's propagations to try (0: off; "
          'see colorjax.hints.propagate), each with every --hint_lightnesses and --hint_reaches.'),
      hint_lightnesses=flags.DEFINE_list('hint_lightnesses', ['0.15'],
                                         'Hint propagation lightness widths to try.'),
      hint_reaches=flags.DEFINE_list('hint_reaches', ['1'], 'Hint propagation reaches to '
                                     'try (method affinity).'),
      hint_methods=flags.DEFINE_list('hint_methods', ['affinity'], 'Hint propagation '
                                     f'methods to try, of {", ".join(hints.METHODS)}.'),
      best_psnr=flags.DEFINE_bool('best_psnr', False, 'Choose the setting with the best '
                                  'PSNR (e.g. for a hint model, whose colours the hints '
                                  'decide) instead of the most colourful within the margins.'),
      hints=flags.DEFINE_integer('hints', 0, 'Score with this many colour hints per '
                                 'photo (a hint-conditioned model; see colorjax.evaluate).'),
      min_gain_db=flags.DEFINE_float('min_gain_db', 0.0, 'PSNR margin over gray '
                                     'that a setting must keep.'),
      min_folder_gain_db=flags.DEFINE_float(
          'min_folder_gain_db', None, 'PSNR margin over gray that a setting must also '
          "keep on each folder's photos alone (default: no such condition)."),
      folder_gains=flags.DEFINE_list(
          'folder_gains', [], 'FOLDER:DB,...: the margin for the folders named '
          '(path or last component) instead of --min_folder_gain_db, e.g. '
          'train_neutral:-0.5 for scenes gray already gets nearly right.'))


def numbers(values: list[str], flag: str) -> list[float]:
  """A list flag's values as floats; a bad one is one sentence naming --flag."""
  try:
    return [float(v) for v in values]
  except ValueError:
    raise ValueError(f'--{flag} takes comma-separated numbers, not {",".join(values)!r}.') from None


def folder_gains(values: list[str]) -> dict[str, float]:
  """--folder_gains's FOLDER:DB pairs; a bad one is one sentence."""
  gains = {}
  for value in values:
    name, _, gain = value.rpartition(':')
    try:
      gains[name] = float(gain)
    except ValueError:
      name = ''
    if not name:
      raise ValueError(f'--folder_gains takes FOLDER:DB pairs (e.g. train_neutral:-0.5), '
                       f'not {value!r}.')
  return gains


def main(argv, args) -> int:
  if not args.checkpoint.value or not args.out.value:
    raise ValueError('Name the model with --checkpoint=RUN_DIR and the output '
                     'folder with --out=DIR.')
  adjustments = numbers(args.adjustments.value, 'adjustments')
  temperatures = numbers(args.temperatures.value, 'temperatures')
  saturations = numbers(args.saturations.value, 'saturations')
  confidences = numbers(args.confidences.value, 'confidences')
  scene_chromas = numbers(args.scene_chromas.value, 'scene_chromas')
  if args.hints.value < 0:
    raise ValueError(f'--hints takes a count of 0 or more, not {args.hints.value}.')
  path = args.checkpoint.value
  _, variables, info = inference.load_model(path)
  propagations = propagation_grid(numbers(args.hint_spreads.value, 'hint_spreads'),
                                  numbers(args.hint_lightnesses.value, 'hint_lightnesses'),
                                  numbers(args.hint_reaches.value, 'hint_reaches'),
                                  args.hint_methods.value)
  settings = settings_grid(info['config'], adjustments, temperatures, saturations,
                           confidences, propagations, scene_chromas)
  for setting in settings:  # One sentence for a bad value, before any scoring.
    tasks.inference_model(info['config'], **setting)
  resolution = colorize.parse_resolution(args.resolution.value, info['config'])
  source, names = held_out_photos(info['config'], args.data.value)
  rows, images = score_settings(info['config'], variables, source, names, resolution,
                                settings, folder=sources.folder_of(info['config'], args.data.value),
                                hint_count=args.hints.value)
  choice, rule = choose(rows, args.min_gain_db.value, args.min_folder_gain_db.value,
                        args.best_psnr.value, folder_gains(args.folder_gains.value))
  if args.export.value:
    inference.export(path, args.export.value, temperature=choice.get('temperature'),
                      adjustment=choice.get('adjustment'),
                      confidence=choice.get('confidence'),
                      scene_chroma=choice.get('scene_chroma'), saturation=choice['saturation'],
                      **{k: choice.get(k) for k in hints.PROPAGATION_KEYS})
  os.makedirs(args.out.value, exist_ok=True)
  record = {'choice': choice, 'rule': rule, 'rows': rows, 'settings': {
      'checkpoint': info['path'], 'step': info['step'],
      'data': args.data.value or "the run's eval split", 'images': images,
      'hints': args.hints.value,
      'resolution': resolution, 'export': args.export.value,
      'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      'device': jax.devices()[0].device_kind}}
  with open(os.path.join(args.out.value, 'tune.json'), 'w') as f:
    json.dump(record, f, indent=2)
  print(f'{len(rows)} settings on {images} photos; chosen ({rule}):')
  print(format_row(choice))
  if args.export.value:
    print(f'Exported with that setting to {args.export.value}.')
  return 0


def cli():
  """`colorjax-tune` (installed with the package): the same as `python -m colorjax.tune`."""
  command.run(__name__, main, _define_flags)


if __name__ == '__main__':
  cli()

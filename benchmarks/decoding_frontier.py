"""Can another decoding give a classification model more colour at the same
PSNR? Scored on the model's own held-out photos only (never a test set).

  python benchmarks/decoding_frontier.py --checkpoint=colorjax/pretrained \
      --out=benchmarks/results/decoding_frontier.json

`colorjax.tune` chooses the most colourful decoding (logit adjustment x
annealed-mean temperature x confidence) whose mean PSNR beats gray by
--min_gain_db and, on each folder's photos alone, by --min_folder_gain_db.
Under that rule the colour a model can show is bounded by its PSNR-colour
frontier. This benchmark scores each of those base decodings together with
three ways to push the frontier that tune does not offer:

- chroma: the hue of the annealed mean with chroma (1 - g) |mean| + g E[chroma],
  the expected chroma of the same distribution (Larsson et al., ECCV 2016,
  take hue and chroma apart in the same way): averaging bins of other hues
  and near-gray bins shortens the mean, and this gives back the share g;
- saturation: a plain chroma gain on the decoded ab (`tasks.base.saturate`);
- flip: the logits of the photo and of its mirror image averaged before
  decoding (test-time augmentation; twice the network's work).

Writes every row (PSNR and worst-folder gain over gray, colourfulness, the
rule's verdict) and each family's most colourful passing row, with the
machine, versions and date, to --out, and prints both.
"""

import itertools
import os
import sys
import types

from absl import app
from absl import flags
import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from colorjax import classification  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import color  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import inference  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import sources  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import tasks  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import tune  # pylint: disable=g-import-not-at-top,wrong-import-position
import common  # pylint: disable=g-import-not-at-top,wrong-import-position


def _define_flags():
  """The command's flags; defined only when this file runs as the program (tests
  import it)."""
  return types.SimpleNamespace(
      checkpoint=flags.DEFINE_string('checkpoint', 'colorjax/pretrained', 'A classification '
                                     'model (run, step or export directory).'),
      adjustments=flags.DEFINE_list('adjustments', ['0.8', '1', '1.2'],
                                    'Base decodings: adjustments.'),
      temperatures=flags.DEFINE_list('temperatures', ['0.6', '0.8'], 'Base decodings: temperatures.'),
      confidences=flags.DEFINE_list('confidences', ['0', '4'], 'Base decodings: confidences.'),
      chromas=flags.DEFINE_list('chromas', ['0.5', '1'], 'Shares g of the expected chroma.'),
      saturations=flags.DEFINE_list('saturations', ['1.2', '1.4'], 'Chroma gains.'),
      min_gain=flags.DEFINE_float('min_gain_db', 0.5, "The rule's margin over gray, all photos."),
      min_folder_gain=flags.DEFINE_float('min_folder_gain_db', 0.2,
                                         "The rule's margin over gray, each folder."),
      resolution=flags.DEFINE_integer('resolution', 128, 'Working resolution.'),
      limit=flags.DEFINE_integer('limit', 0, 'Score only the first N held-out photos '
                                 '(0: all).'),
      out=flags.DEFINE_string('out', 'benchmarks/results/decoding_frontier.json',
                              'Where to write JSON.'))


def hue_chroma_mean(p, bins, share: float):
  """The mean ab of distributions p [..., Q] over bins [Q, 2] (LAB units),
  its chroma moved the share `share` of the way to the distribution's
  expected chroma E[|ab|], its hue kept: 0 is the plain mean. The direction
  is mean / sqrt(|mean|^2 + 1), so a mean near zero (no hue to speak of)
  stays near zero instead of taking the whole expected chroma in a hue that
  rounding picked."""
  mean = p @ bins
  if share == 0:
    return mean
  expected = (p @ jnp.linalg.norm(bins, axis=-1))[..., None]
  direction = mean / jnp.sqrt(jnp.sum(mean * mean, axis=-1, keepdims=True) + 1.0)
  return (1 - share) * mean + share * expected * direction


class Decodings:
  """Every setting's normalised ab side by side (see `tune.score_settings`'s
  bank): the network once, and once more on the mirror image if any setting
  flips."""

  def __init__(self, config: dict, settings: list[dict]):
    self.net = tasks.of(config).create_model(config)
    self.settings = settings
    self.bins = jnp.asarray(classification.ab_bins(), jnp.float32)
    self.log_weights = jnp.log(jnp.asarray(config['classification']['class_weights'],
                                           jnp.float32))

  def decode(self, logits, s: dict):
    logits = logits.astype(jnp.float32) - s['adjustment'] * self.log_weights
    ab = hue_chroma_mean(jax.nn.softmax(logits / s['temperature'], axis=-1), self.bins,
                         s['chroma'])
    if s['confidence']:  # As `classification.confident_mean`.
      p = jax.nn.softmax(logits, axis=-1)
      weight = jnp.minimum(1.0, s['confidence'] * jnp.max(p, axis=-1, keepdims=True))
      ab = weight * ab + (1 - weight) * hue_chroma_mean(p, self.bins, s['chroma'])
    return tasks.base.saturate(ab / color.AB_SCALE, s['saturation'])

  def apply(self, variables, l, *, train: bool = False):
    logits = self.net.apply(variables, l, train=train)
    if any(s['flip'] for s in self.settings):
      mirrored = jnp.flip(self.net.apply(variables, jnp.flip(l, axis=-2), train=train), axis=-2)
      flipped = 0.5 * (logits.astype(jnp.float32) + mirrored.astype(jnp.float32))
    return jnp.concatenate([self.decode(flipped if s['flip'] else logits, s)
                            for s in self.settings], axis=-1)


def settings_grid(adjustments, temperatures, confidences, chromas, saturations) -> list[dict]:
  """Each base decoding alone, then with each chroma share, each saturation
  and the flip, one change at a time."""
  grid = []
  for a, t, c in itertools.product(adjustments, temperatures, confidences):
    base = {'adjustment': a, 'temperature': t, 'confidence': c,
            'chroma': 0.0, 'saturation': 1.0, 'flip': False}
    grid.append({**base, 'family': 'base'})
    grid += [{**base, 'chroma': g, 'family': 'chroma'} for g in chromas]
    grid += [{**base, 'saturation': s, 'family': 'saturation'} for s in saturations]
    grid.append({**base, 'flip': True, 'family': 'flip'})
  return grid


def main(args):
  _, variables, info = inference.load_model(args.checkpoint.value)
  config = info['config']
  if config['model'].get('head') != 'classification':
    raise app.UsageError(f'{args.checkpoint.value} is not a classification model; this '
                         'benchmark compares decodings of one.')
  source, names = sources.held_out(config)
  if args.limit.value:
    names = names[:args.limit.value]
  settings = settings_grid(*(tune.numbers(getattr(args, flag).value, flag) for flag in (
      'adjustments', 'temperatures', 'confidences', 'chromas', 'saturations')))
  environment = common.environment()
  with open(os.devnull, 'w') as quiet:  # Its per-row lines would not name the family.
    rows, scored = tune.score_settings(config, variables, source, names, args.resolution.value,
                                       settings, log=quiet, folder=sources.folder_of(config, None),
                                       bank=Decodings(config, settings))
  for row in rows:
    row['gain_db'] = row['psnr'] - row['gray_psnr']
    row['worst_folder_gain_db'] = tune.worst_folder_gain(row)
    row['colourfulness_share'] = row['colorfulness'] / row['colorfulness_gt']
    row['passes'] = (row['gain_db'] >= args.min_gain.value
                     and row['worst_folder_gain_db'] >= args.min_folder_gain.value)
  best = {}
  for family in ('base', 'chroma', 'saturation', 'flip'):
    passing = [r for r in rows if r['family'] == family and r['passes']]
    best[family] = max(passing, key=lambda r: r['colorfulness'], default=None)
  environment.update(checkpoint=args.checkpoint.value, step=info['step'], photos=scored,
                     rule={'min_gain_db': args.min_gain.value,
                           'min_folder_gain_db': args.min_folder_gain.value},
                     most_colourful_passing=best)
  common.write(args.out.value, environment, rows)
  columns = ['family', 'adjustment', 'temperature', 'confidence', 'chroma', 'saturation',
             'flip', 'gain_db', 'worst_folder_gain_db', 'colourfulness_share', 'passes']
  print(f'{scored} held-out photos, every row, the most colourful first:')
  print(common.markdown(sorted(rows, key=lambda r: -r['colorfulness']), columns))
  print('The most colourful row of each family that passes the rule:')
  print(common.markdown([r for r in best.values() if r], columns))
  print(f'Wrote {args.out.value}.')


if __name__ == '__main__':
  _args = _define_flags()
  app.run(lambda argv: main(_args))

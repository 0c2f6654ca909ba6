"""Where a model's colour cast comes from: measurements, not guesses.

  python benchmarks/colour_cast.py --checkpoint=colorjax/pretrained \
      --train=../shared/data/train,../shared/data/train_more \
      --eval=../shared/data/eval/kodak24,../shared/data/eval/cbsd68,../shared/data/eval/mcmaster18

Measures, and writes with the machine, versions and date to --out:
- the training photos' colour: mean a and b over all pixels, and the share of
  pixels that are near-gray (chroma below 5), blue-ish (b < -5) and warm
  (a > 0 and b > 5), per --train folder;
- per evaluation set, the model's and the truth's mean a and b over all
  pixels, and the same three shares, at the model's working resolution:
  a cast shows as a prediction whose mean points the same way on every set
  whatever the truth's does;
- the same predictions with BatchNorm using each photo's own statistics
  instead of the running averages, and at other working resolutions: if the
  cast came from stale statistics or the scale, these would change it.
"""

import os
import sys

from absl import app
from absl import flags
import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from colorjax import checkpoint  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import color  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import colorize  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import inference  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import sources  # pylint: disable=g-import-not-at-top,wrong-import-position
import common  # pylint: disable=g-import-not-at-top,wrong-import-position

_CHECKPOINT = flags.DEFINE_string('checkpoint', None, 'Model (default: the bundled one).')
_TRAIN = flags.DEFINE_list('train', ['../shared/data/train', '../shared/data/train_more'],
                           'Training photo folders to describe.')
_EVAL = flags.DEFINE_list('eval', [f'../shared/data/eval/{s}' for s in
                                   ('kodak24', 'cbsd68', 'mcmaster18')],
                          'Evaluation folders.')
_RESOLUTIONS = flags.DEFINE_list('resolutions', ['96', '128', '192'],
                                 'Working resolutions to compare (the first set only).')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/colour_cast.json', 'Where to write JSON.')

_TO_AB = jax.jit(lambda rgb: color.rgb_to_lab(rgb)[..., 1:])


def ab_summary(ab: np.ndarray) -> dict[str, float]:
  """Mean a, b and shares of near-gray, blue-ish and warm pixels of [n, 2] ab."""
  chroma = np.hypot(ab[:, 0], ab[:, 1])
  return {'mean_a': float(ab[:, 0].mean()), 'mean_b': float(ab[:, 1].mean()),
          'near_gray': float(np.mean(chroma < 5)),
          'blueish': float(np.mean(ab[:, 1] < -5)),
          'warm': float(np.mean((ab[:, 0] > 0) & (ab[:, 1] > 5)))}


def folder_ab(folder: str, max_pixels: int = 4096) -> np.ndarray:
  """ab of up to max_pixels evenly spaced pixels of every photo in a folder."""
  source, _ = sources.open_images(folder)
  parts = []
  for i in range(len(source)):
    ab = np.asarray(_TO_AB(source.load(i))).reshape(-1, 2)
    parts.append(ab[::max(1, len(ab) // max_pixels)])
  return np.concatenate(parts)


def _batch_stats_model(model):
  """The network normalising with each photo's own BatchNorm statistics."""
  class OwnStatistics:
    def apply(self, variables, l, train=False):
      del train
      out, _ = model.apply(variables, l, train=True, mutable=['batch_stats'])
      return out
  return OwnStatistics()


def predictions(model, variables, folder: str, resolution) -> tuple[np.ndarray, np.ndarray]:
  """ab of the model's colorizations and of the truth, every 16th pixel."""
  colorizer = colorize.Colorizer(model, variables)
  source, _ = sources.open_images(folder)
  predicted, truth = [], []
  for i in range(len(source)):
    rgb = source.load(i)
    out = colorizer.colorize(rgb, resolution)
    predicted.append(np.asarray(_TO_AB(out)).reshape(-1, 2)[::16])
    truth.append(np.asarray(_TO_AB(rgb)).reshape(-1, 2)[::16])
  return np.concatenate(predicted), np.concatenate(truth)


def main(argv):
  del argv
  path = checkpoint.resolve(_CHECKPOINT.value)
  model, variables, info = inference.load_model(path)
  default = colorize.default_resolution(info['config'])
  report = {'checkpoint': path, 'step': info['step'], 'resolution': default,
            'train': {}, 'eval': {}, 'own_batch_statistics': {}, 'resolutions': {}}
  for folder in _TRAIN.value:
    report['train'][folder] = ab_summary(folder_ab(folder))
    print('train', folder, report['train'][folder], flush=True)
  for folder in _EVAL.value:
    predicted, truth = predictions(model, variables, folder, default)
    report['eval'][folder] = {'model': ab_summary(predicted), 'truth': ab_summary(truth)}
    print('eval', folder, report['eval'][folder], flush=True)
    own, _ = predictions(_batch_stats_model(model), variables, folder, default)
    report['own_batch_statistics'][folder] = ab_summary(own)
    print('own batch statistics', folder, report['own_batch_statistics'][folder], flush=True)
  for resolution in _RESOLUTIONS.value:
    predicted, _ = predictions(model, variables, _EVAL.value[0], int(resolution))
    report['resolutions'][resolution] = ab_summary(predicted)
    print('resolution', resolution, report['resolutions'][resolution], flush=True)
  common.write(_OUT.value, common.environment(), [report])


if __name__ == '__main__':
  app.run(main)

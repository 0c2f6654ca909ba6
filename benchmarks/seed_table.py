"""The seed study's table with colorjax's figures beside it.

  python benchmarks/seed_table.py --runs=cnn:runs/seed/cnn/eval_test,unet:runs/seed/unet/eval_test

Each --runs entry is NAME:DIR, where DIR holds the metrics.json of
`colorjax.evaluate --data=tfds:cifar10:test --resolution=native` (the seed's
protocol: the 10,000 CIFAR-10 test images at 32x32; a and b each in 8 bins,
pooled; macro averages with an undefined precision counting as 1). The
seed's row comes from its report; its accuracy, precision, recall and F1 are
also recomputed here from its printed confusion matrix
(../shared/data/seed/confusion_matrix.csv) with `colorjax.metrics`, which
checks that both sides use the same definitions. `launch/seed_table.sh`
trains and evaluates both networks and runs this.
"""

import json
import os
import sys

from absl import app
from absl import flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from colorjax import metrics  # pylint: disable=g-import-not-at-top,wrong-import-position
import common  # pylint: disable=g-import-not-at-top,wrong-import-position

# The seed study's report, table of results (../shared/data/seed/README.md).
SEED_REPORTED = {'accuracy': 0.5791, 'precision': 0.4414, 'recall': 0.1593,
                 'f1': 0.1620, 'mse_ab': 0.0092, 'psnr': 20.41}
SEED_CONFUSION = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                              'shared', 'data', 'seed', 'confusion_matrix.csv')
COLUMNS = ('model', 'accuracy', 'precision', 'recall', 'f1', 'mse_ab', 'psnr', 'ssim',
           'colorfulness', 'step', 'train_images', 'train_hours', 'images')

_RUNS = flags.DEFINE_list('runs', [], 'NAME:DIR pairs, DIR holding metrics.json.')
_CURVE = flags.DEFINE_list('curve', [], 'NAME:DIR pairs of earlier checkpoints of the '
                           'same runs (the learning curve): rows without a gray baseline.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/seed_table.json', 'JSON output.')


def seed_rows(confusion_path: str = SEED_CONFUSION) -> list[dict]:
  """The seed's reported row and, if its confusion matrix is at hand, the
  bin metrics recomputed from it."""
  rows = [{'model': 'seed (reported)', **SEED_REPORTED}]
  if os.path.exists(confusion_path):
    matrix = np.loadtxt(confusion_path, delimiter=',', skiprows=1)[:, 1:]
    rows.append({'model': 'seed (recomputed from its confusion matrix)',
                 **metrics.classification_metrics(matrix)})
  return rows


def budget(checkpoint_path: str, step: int) -> dict:
  """Training images seen (steps x batch) and hours, for a checkpoint of a
  run that `launch/seed_table.sh` timed (its train_seconds file); empty for a
  model trained elsewhere (the bundle)."""
  run = checkpoint_path.rstrip('/')
  while run and not os.path.exists(os.path.join(run, 'train_seconds')):
    parent = os.path.dirname(run)
    run = '' if parent == run else parent
  if not run:
    return {}
  from colorjax import checkpoint  # pylint: disable=g-import-not-at-top
  config = checkpoint.load_config(checkpoint_path)
  with open(os.path.join(run, 'train_seconds')) as f:
    seconds = float(f.read())
  # Hours to this step: the run's time scaled by the step's share of the budget.
  return {'train_images': step * config['global_batch_size'],
          'train_hours': round(seconds / 3600 * step / config['num_train_steps'], 3)}


def run_rows(name: str, directory: str, *, gray: bool = True) -> list[dict]:
  """The model's row and (with `gray`) its gray baseline's, from evaluate's
  metrics.json."""
  with open(os.path.join(directory, 'metrics.json')) as f:
    record = json.load(f)
  settings = record['settings']
  keys = ('accuracy', 'precision', 'recall', 'f1', 'mse_ab', 'psnr', 'ssim', 'colorfulness')
  info = {'step': settings['step'], 'images': settings['images']}
  rows = [{'model': f'colorjax {name}', **{k: record['model'][k] for k in keys}, **info,
           **budget(settings.get('checkpoint', ''), settings['step'])}]
  if gray:
    rows.append({'model': f'gray baseline ({name}\'s images)',
                 **{k: record['gray'][k] for k in keys}, **info})
  return rows


def main(argv):
  del argv
  rows = seed_rows()
  for entry in _RUNS.value:
    name, _, directory = entry.partition(':')
    if not directory:
      raise app.UsageError(f'--runs takes NAME:DIR pairs, not {entry!r}.')
    rows += run_rows(name, directory)
  for entry in _CURVE.value:
    name, _, directory = entry.partition(':')
    if not directory:
      raise app.UsageError(f'--curve takes NAME:DIR pairs, not {entry!r}.')
    rows += run_rows(name, directory, gray=False)
  common.write(_OUT.value, common.environment(), rows)
  print(common.markdown(rows, list(COLUMNS)))


if __name__ == '__main__':
  app.run(main)

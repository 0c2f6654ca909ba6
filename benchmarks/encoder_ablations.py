"""The pretrained encoder's training choices side by side, on held-out photos.

  python benchmarks/encoder_ablations.py --arms=recipe:runs/encoder_ablations/recipe,...

Each --arms entry is ARM:RUN, RUN a training run of
`launch/encoder_ablations.sh` (which makes them and calls this): its
`eval_held_out/metrics.json` (`colorjax.evaluate --held_out=RUN
--resolution=128`), its config and its `train_seconds`. A row gives the PSNR
gain over gray on all the run's held-out photos and per folder, the share of
photos below gray, the colourfulness as a share of the truth's, and what the
run cost; the arms' runs share one split, so they are scored on the same
photos.
"""

import json
import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # pylint: disable=g-import-not-at-top,wrong-import-position



def arm_row(arm: str, run: str) -> dict:
  """One arm's row from its run directory."""
  from colorjax import checkpoint  # pylint: disable=g-import-not-at-top
  with open(os.path.join(run, 'eval_held_out', 'metrics.json')) as f:
    record = json.load(f)
  config = checkpoint.load_config(run)
  model, gray, settings = record['model'], record['gray'], record['settings']
  row = {'arm': arm, 'step': settings['step'],
         'crops': settings['step'] * config['global_batch_size'],
         'crop_size': config['data']['image_size'],
         'gain_db': model['psnr'] - gray['psnr'],
         'below_gray': settings['below_gray'],
         'cf_share': model['colorfulness'] / model['colorfulness_gt'],
         'images': settings['images']}
  for folder, scores in sorted(settings['by_folder'].items()):
    row[f'gain_{os.path.basename(folder.rstrip("/"))}'] = scores['psnr'] - scores['gray_psnr']
  seconds_path = os.path.join(run, 'train_seconds')
  if os.path.exists(seconds_path):
    with open(seconds_path) as f:
      row['train_minutes'] = float(f.read()) / 60
  return row


def main(argv, arms, out):
  del argv
  rows = []
  for entry in arms.value:
    arm, _, run = entry.partition(':')
    if not run:
      raise app.UsageError(f'--arms takes ARM:RUN pairs, not {entry!r}.')
    rows.append(arm_row(arm, run))
  if not rows:
    raise app.UsageError('Name the runs with --arms=ARM:RUN,...')
  columns = list(dict.fromkeys(k for row in rows for k in row))
  common.write(out.value, common.environment(), rows)
  print(common.markdown(rows, columns))


if __name__ == '__main__':
  # Defined here, so that importing arm_row defines no flags beside another benchmark's.
  _arms = flags.DEFINE_list('arms', [], 'ARM:RUN pairs.')
  _out = flags.DEFINE_string('out', 'benchmarks/results/encoder_ablations.json', 'JSON output.')
  app.run(lambda argv: main(argv, _arms, _out))

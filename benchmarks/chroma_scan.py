"""How many photos of each folder `config.data.gray_threshold` would drop.

  python benchmarks/chroma_scan.py --folders=../shared/data/train,../shared/data/train_more,\
../shared/data/train_scenes,../shared/data/train_neutral --out=benchmarks/results/chroma_scan.json

The training scan (`sources.scan`) leaves a photo out of training when 90%
of its pixels have an RGB chroma (max - min of R, G, B, 0-255) below the
threshold (`images.is_near_gray`). For each folder this reports that 90th
percentile's distribution: the count below each threshold of --thresholds
and the median, so that a threshold can be chosen knowing what it drops.
"""

import os
import sys

from absl import app
from absl import flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import images  # pylint: disable=g-import-not-at-top,wrong-import-position


def p90_chroma(path: str) -> float:
  """The statistic `images.is_near_gray` compares with the threshold."""
  with open(path, 'rb') as f:
    return images.p90_chroma(images.decode_image(f.read()))


def scan(folder: str, thresholds: list[float]) -> dict:
  values = np.array([p90_chroma(p) for p in images.list_images(folder)])
  row = {'folder': os.path.basename(os.path.normpath(folder)), 'photos': len(values)}
  row.update({f'below {t:g}': int((values < t).sum()) for t in thresholds})
  row['median p90 chroma'] = float(np.median(values)) if len(values) else None
  return row


def main(argv):
  del argv
  thresholds = [float(t) for t in _THRESHOLDS.value]
  rows = [scan(folder, thresholds) for folder in _FOLDERS.value]
  print(common.markdown(rows, list(rows[0])))
  common.write(_OUT.value, common.environment(), rows)


if __name__ == '__main__':
  _FOLDERS = flags.DEFINE_list('folders', None, 'Photo folders to scan.', required=True)
  _THRESHOLDS = flags.DEFINE_list('thresholds', ['2', '4', '6', '8', '10'],
                                  'gray_threshold values to count below.')
  _OUT = flags.DEFINE_string('out', 'benchmarks/results/chroma_scan.json', 'JSON output.')
  app.run(main)

"""The side-by-side picture of several models."""

import numpy as np
from PIL import Image

from colorjax import checkpoint
from colorjax import inference
from tests.conftest import run_module


def test_compare_puts_gray_each_model_and_truth_side_by_side(tmp_path, photo_folder, tiny_run):
  out = str(tmp_path / 'compare.jpg')
  result = run_module(['colorjax.compare', f'--data={photo_folder}',
                       f'--models=bundled,{tiny_run}', '--images=2',
                       '--resolution=native', f'--out={out}'])
  bundled_step = inference.load_model(checkpoint.PRETRAINED)[2]['step']
  assert f'columns gray | bundled (step {bundled_step}) |' in result.stdout
  assert result.stdout.strip().endswith('| ground truth')
  picture = np.asarray(Image.open(out))
  # Two rows of four 40x48 photos, each row scaled to the grid's row height.
  height = picture.shape[0] // 2
  assert picture.shape[1] == 4 * round(48 * height / 40)
  missing = run_module(['colorjax.compare', f'--data={photo_folder}', '--models=/no/run',
                        f'--out={out}'], check=False)
  assert missing.returncode == 1 and 'error: No checkpoint found' in missing.stderr

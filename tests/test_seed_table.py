"""The seed study's table: the same metric definitions on both sides, and the
table built from `colorjax.evaluate`'s output on the CIFAR-10 test split."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from colorjax import checkpoint
from colorjax import colorize
from colorjax import evaluate
from colorjax import inference
from colorjax import sources
from tests.conftest import REPO

sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
import seed_table  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.mark.skipif(not os.path.exists(seed_table.SEED_CONFUSION),
                    reason='needs ../shared/data/seed')
def test_colorjax_metrics_give_the_seed_figures_from_its_confusion_matrix():
  reported, recomputed = seed_table.seed_rows()
  for key in ('accuracy', 'precision', 'recall', 'f1'):
    # The report prints 4 decimals: agreement within their rounding.
    assert recomputed[key] == pytest.approx(reported[key], abs=5e-5), key


def test_the_table_puts_evaluate_output_beside_the_seed(tiny_run, tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  model, variables, info = inference.load_model(tiny_run)
  with tfds.testing.mock_data(num_examples=4):
    source, names = sources.open_images('tfds:cifar10:test')
    summary, rows, grid, _ = evaluate.evaluate(
        colorize.Colorizer(model, variables), source, names, colorize.NATIVE)
  evaluate.write_outputs(str(tmp_path / 'unet'), summary, rows, grid,
                         {'step': info['step'], 'images': len(rows)})
  out = tmp_path / 'table.json'
  result = subprocess.run(
      [sys.executable, 'benchmarks/seed_table.py', f'--runs=unet:{tmp_path / "unet"}',
       f'--out={out}'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  table = json.loads(out.read_text())
  models = [row['model'] for row in table['rows']]
  assert models[0] == 'seed (reported)'
  assert models[-2:] == ['colorjax unet', "gray baseline (unet's images)"]
  assert table['rows'][-2]['accuracy'] == summary['model']['accuracy']
  assert table['rows'][-2]['images'] == 4 and 'device' in table['environment']
  assert '| colorjax unet |' in result.stdout


def test_curve_rows_carry_the_training_budget_without_a_gray_row(tiny_run, tmp_path):
  run = tmp_path / 'run'
  shutil.copytree(tiny_run, run)
  (run / 'train_seconds').write_text('7200')  # As launch/seed_table.sh writes it.
  config = checkpoint.load_config(str(run))
  step = checkpoint.load(str(run))[0]['step']
  scores = {'accuracy': 0.5, 'precision': 0.4, 'recall': 0.2, 'f1': 0.2, 'mse_ab': 0.01,
            'psnr': 22.0, 'ssim': 0.9, 'colorfulness': 10.0}
  evaluate.write_outputs(str(tmp_path / 'eval'), {'model': scores, 'gray': scores}, [
      {'image': 'a'}], None, {'step': int(step), 'images': 1, 'checkpoint': str(run)})
  rows = seed_table.run_rows('unet', str(tmp_path / 'eval'), gray=False)
  assert len(rows) == 1 and rows[0]['model'] == 'colorjax unet'
  assert rows[0]['train_images'] == int(step) * config['global_batch_size']
  assert rows[0]['train_hours'] == pytest.approx(2.0 * int(step) / config['num_train_steps'],
                                                 abs=1e-3)


def test_encoder_ablation_rows_give_gains_over_gray_per_folder(tiny_run, tmp_path):
  sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
  import encoder_ablations  # pylint: disable=g-import-not-at-top
  run = tmp_path / 'arm'
  shutil.copytree(tiny_run, run)
  (run / 'train_seconds').write_text('360')  # As launch/encoder_ablations.sh writes it.
  config = checkpoint.load_config(str(run))
  step = int(checkpoint.load(str(run))[0]['step'])
  model = {'psnr': 25.0, 'colorfulness': 12.0, 'colorfulness_gt': 30.0}
  gray = {'psnr': 24.0, 'colorfulness': 0.0, 'colorfulness_gt': 30.0}
  by_folder = {'../shared/data/train': {'images': 3, 'psnr': 23.5, 'gray_psnr': 23.0},
               '../shared/data/train_neutral/': {'images': 1, 'psnr': 30.0, 'gray_psnr': 32.0}}
  evaluate.write_outputs(str(run / 'eval_held_out'), {'model': model, 'gray': gray},
                         [{'image': 'a'}], None, {'step': step, 'images': 4,
                                                  'below_gray': 0.25, 'by_folder': by_folder})
  row = encoder_ablations.arm_row('recipe', str(run))
  assert row['gain_db'] == pytest.approx(1.0)
  assert row['gain_train'] == pytest.approx(0.5)
  assert row['gain_train_neutral'] == pytest.approx(-2.0)
  assert row['cf_share'] == pytest.approx(0.4) and row['below_gray'] == 0.25
  assert row['crops'] == step * config['global_batch_size']
  assert row['train_minutes'] == pytest.approx(6.0)

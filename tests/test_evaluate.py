"""The evaluation command and library: outputs, buckets, gray baseline, errors."""

import csv
import json
import os

import numpy as np
from PIL import Image
import pytest

from colorjax import checkpoint
from colorjax import colorize
from colorjax import evaluate
from tests.conftest import REPO
from tests.conftest import photo_crops
from tests.conftest import run_module

KODAK = os.path.join(REPO, '..', 'shared', 'data', 'eval', 'kodak24')


@pytest.fixture
def mixed_folder(tmp_path):
  """Photos of many sizes, one of them broken."""
  folder = tmp_path / 'mixed'
  folder.mkdir()
  sizes = [(40, 48), (41, 60), (50, 50), (64, 33), (70, 90), (33, 41), (45, 47)]
  for i, (h, w) in enumerate(sizes):
    Image.fromarray(photo_crops(1, h, w, seed=i)[0]).save(folder / f'{i}.png')
  (folder / 'z_broken.jpg').write_bytes(b'\xff\xd8\xff not really a jpeg')
  return str(folder)


def test_command_writes_metrics_csv_and_grid(tiny_run, mixed_folder, tmp_path):
  out = str(tmp_path / 'eval')
  result = run_module(['colorjax.evaluate', f'--workdir={tiny_run}',
                       f'--data={mixed_folder}', f'--out={out}', '--resolution=32',
                       '--grid_images=3'])
  report = json.load(open(os.path.join(out, 'metrics.json')))
  assert set(report) == {'model', 'gray', 'settings'}
  for kind in ('model', 'gray'):
    assert set(report[kind]) == set(evaluate.METRIC_KEYS)
    assert all(np.isfinite(v) for v in report[kind].values())
  settings = report['settings']
  assert settings['step'] == 2 and settings['resolution'] == 32
  assert settings['images'] == 7 and settings['skipped'] == 1
  assert 'z_broken.jpg' in settings['skipped_images']
  assert settings['grid_images'] == ['0.png', '1.png', '2.png']
  # The gray baseline has no colour; ground truth is the same for both.
  assert report['gray']['colorfulness'] < 0.5
  assert report['gray']['colorfulness_gt'] == report['model']['colorfulness_gt']
  rows = list(csv.DictReader(open(os.path.join(out, 'per_image.csv'))))
  assert [r['image'] for r in rows] == [f'{i}.png' for i in range(7)]
  assert rows[4]['height'] == '70' and rows[4]['width'] == '90'
  assert np.mean([float(r['psnr']) for r in rows]) == pytest.approx(report['model']['psnr'])
  grid = np.asarray(Image.open(os.path.join(out, 'grid.png')))
  assert grid.shape[0] == 3 * 160
  assert 'psnr' in result.stdout and 'gray' in result.stdout


def test_shape_buckets_bound_the_compilations(tiny_run, mixed_folder):
  model, variables, _ = checkpoint.load_model(tiny_run)
  evaluator = evaluate.Evaluator(colorize.Colorizer(model, variables), colorize.NATIVE)
  source, names = evaluate.open_images(mixed_folder)
  sizes, compiled = set(), evaluate._SCORE._cache_size()  # pylint: disable=protected-access
  for i, name in enumerate(names[:-1]):
    image = source.load(i)
    sizes.add(image.shape[:2])
    evaluator.add(name, image)
  assert len(sizes) == 7
  assert evaluate._SCORE._cache_size() - compiled <= 4  # pylint: disable=protected-access


def test_bucket_sizes():
  assert [colorize.bucket(n) for n in (1, 32, 33, 64, 65, 100, 500, 513, 768, 1000)] == \
      [32, 32, 64, 64, 96, 128, 512, 640, 768, 1024]
  for n in range(1, 3000, 7):
    assert 0 <= colorize.bucket(n) - n < max(32, 0.25 * n)


@pytest.mark.skipif(not os.path.isdir(KODAK), reason='needs ../shared/data/eval')
def test_gray_baseline_on_kodak24_matches_the_independent_figure(tiny_run):
  model, variables, _ = checkpoint.load_model(tiny_run)
  source, names = evaluate.open_images(KODAK)
  summary, rows, _, skipped = evaluate.evaluate(
      colorize.Colorizer(model, variables), source, names, 64, grid_images=0)
  assert len(rows) == 24 and not skipped
  # ../shared/data/README.md, measured with scikit-image: 22.46 dB, CF 39.6.
  assert summary['gray']['psnr'] == pytest.approx(22.46, abs=0.05)
  assert summary['gray']['colorfulness_gt'] == pytest.approx(39.6, abs=0.05)


def test_tfds_source_is_evaluated(tiny_run):
  import tensorflow_datasets as tfds
  model, variables, _ = checkpoint.load_model(tiny_run)
  with tfds.testing.mock_data(num_examples=5):
    source, names = evaluate.open_images('tfds:cifar10:test')
    summary, rows, _, _ = evaluate.evaluate(
        colorize.Colorizer(model, variables), source, names, colorize.NATIVE)
  assert len(rows) == 5 and names[0] == 'cifar10/test/0'
  assert rows[0]['height'] == 32


@pytest.mark.parametrize('flags,message', [
    (['--checkpoint=/no/such/run'], "No checkpoint found at '/no/such/run'"),
    (['--resolution=big'], 'The resolution must be "native" or a positive number'),
    (['--data=tfds:cifar10'], 'A TFDS source is written tfds:NAME:SPLIT'),
    (['--data=/no/such/folder'], "The image folder '/no/such/folder' does not exist"),
])
def test_user_mistakes_are_one_clear_line(tiny_run, mixed_folder, tmp_path, flags, message):
  args = ['colorjax.evaluate', f'--workdir={tiny_run}', f'--data={mixed_folder}',
          f'--out={tmp_path / "out"}', *flags]
  result = run_module(args, check=False)
  assert result.returncode == 1
  errors = [l for l in result.stderr.splitlines() if l.startswith('error: ')]
  assert len(errors) == 1 and message in errors[0], result.stderr[-1500:]
  assert 'Traceback' not in result.stderr


def test_default_resolution_is_the_training_scale():
  assert colorize.default_resolution({'data': {'resize_shorter': 128, 'image_size': 64}}) == 128
  assert colorize.default_resolution({'data': {'resize_shorter': 0, 'image_size': 32}}) == 32


def test_decoding_settings_are_refused_for_a_regression_model(tiny_run, tmp_path):
  result = run_module(['colorjax.tune', f'--checkpoint={tiny_run}', f'--out={tmp_path}'],
                      check=False)
  errors = [l for l in result.stderr.splitlines() if l.startswith('error: ')]
  assert result.returncode == 1 and len(errors) == 1
  assert 'holds a regression model, which has no decoding to tune' in errors[0]
  with pytest.raises(ValueError, match='apply to classification models only'):
    checkpoint.export(tiny_run, str(tmp_path / 'export'), adjustment=0.2)

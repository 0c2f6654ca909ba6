"""The evaluation command and library: outputs, buckets, gray baseline, errors."""

import csv
import json
import os

import jax
import numpy as np
from PIL import Image
import pytest
import skimage.color
import skimage.metrics

from colorjax import colorize
from colorjax import evaluate
from colorjax import images
from colorjax import inference
from colorjax import input_pipeline
from colorjax import parallel
from colorjax import sources
from colorjax import train
from tests.conftest import REPO
from tests.conftest import photo_crops
from tests.conftest import run_module
from tests.conftest import tiny_config

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
  assert 'by_folder' not in settings  # One folder: nothing to split.
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


def test_scores_are_also_given_per_folder(tiny_run, tmp_path):
  """A run trained on 'A,B' holds out photos of both, and a folder of sets
  has subfolders: the mean over all can hide a loss on one of them."""
  a, b = str(tmp_path / 'train'), str(tmp_path / 'train_more')
  folder = sources.folder_of({'data': {'source': 'folder', 'folder': f'{a},{b}'}}, None)
  assert folder(f'{b}/streets/1.jpg') == b and folder(f'{a}/x/2.png') == a
  folder = sources.folder_of(None, str(tmp_path))
  assert folder(os.path.join('kodak', '1.png')) == 'kodak' and folder('2.png') == '.'
  for i, name in enumerate(('kodak', 'kodak', 'mcmaster')):
    os.makedirs(tmp_path / 'sets' / name, exist_ok=True)
    Image.fromarray(photo_crops(1, 40, 48, seed=i)[0]).save(tmp_path / 'sets' / name / f'{i}.png')
  result = run_module(['colorjax.evaluate', f'--workdir={tiny_run}', f'--data={tmp_path}/sets',
                       f'--out={tmp_path}/eval', '--resolution=32'])
  report = json.load(open(tmp_path / 'eval' / 'metrics.json'))
  rows = list(csv.DictReader(open(tmp_path / 'eval' / 'per_image.csv')))
  by_folder = report['settings']['by_folder']
  assert sorted(by_folder) == ['kodak', 'mcmaster'] and by_folder['kodak']['images'] == 2
  assert by_folder['mcmaster']['psnr'] == pytest.approx(float(rows[2]['psnr']))
  assert by_folder['kodak']['gray_psnr'] == pytest.approx(
      np.mean([float(r['gray_psnr']) for r in rows[:2]]))
  assert 'mcmaster, 1 image: PSNR' in result.stdout


def test_shape_buckets_bound_the_compilations(tiny_run, mixed_folder):
  model, variables, _ = inference.load_model(tiny_run)
  evaluator = evaluate.Evaluator(colorize.Colorizer(model, variables), colorize.NATIVE)
  source, names = sources.open_images(mixed_folder)
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


def _independent_gray_scores(source, count):
  """Mean gray-baseline PSNR and truth colorfulness by scikit-image and NumPy
  in float64: LAB with a = b = 0 back to 8-bit RGB."""
  psnr, colorfulness = [], []
  for i in range(count):
    rgb = source.load(i)
    lab = skimage.color.rgb2lab(rgb)
    lab[..., 1:] = 0
    gray = np.round(skimage.color.lab2rgb(lab) * 255).astype(np.uint8)
    psnr.append(skimage.metrics.peak_signal_noise_ratio(rgb, gray, data_range=255))
    x = rgb.astype(np.float64)
    rg, yb = x[..., 0] - x[..., 1], 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    colorfulness.append(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
  return np.mean(psnr), np.mean(colorfulness)


@pytest.mark.skipif(not os.path.isdir(KODAK), reason='needs ../shared/data/eval')
def test_gray_baseline_on_kodak24_matches_the_independent_figure(tiny_run):
  model, variables, _ = inference.load_model(tiny_run)
  source, names = sources.open_images(KODAK)
  summary, rows, _, skipped = evaluate.evaluate(
      colorize.Colorizer(model, variables), source, names, 64, grid_images=0)
  assert len(rows) == 24 and not skipped
  psnr, colorfulness = _independent_gray_scores(source, len(names))
  # Against the float64 reference (measured: both agree to 1e-5).
  assert summary['gray']['psnr'] == pytest.approx(psnr, abs=1e-3)
  assert summary['gray']['colorfulness_gt'] == pytest.approx(colorfulness, abs=1e-3)
  # And the figures in ../shared/data/README.md, which are rounded to 0.01 dB
  # and 0.1 (so they may differ by up to 0.005 and 0.05).
  assert psnr == pytest.approx(22.46, abs=0.01)
  assert colorfulness == pytest.approx(39.6, abs=0.1)


def test_tfds_source_is_evaluated(tiny_run):
  import tensorflow_datasets as tfds
  model, variables, _ = inference.load_model(tiny_run)
  with tfds.testing.mock_data(num_examples=5):
    source, names = sources.open_images('tfds:cifar10:test')
    summary, rows, _, _ = evaluate.evaluate(
        colorize.Colorizer(model, variables), source, names, colorize.NATIVE)
  assert len(rows) == 5 and names[0] == 'cifar10/test/0'
  assert rows[0]['height'] == 32


@pytest.mark.parametrize('flags,message', [
    (['--checkpoint=/no/such/run'], "No checkpoint found at '/no/such/run'"),
    (['--resolution=big'], 'The resolution must be "native" or a positive number'),
    (['--data=tfds:cifar10'], 'A TFDS source is written tfds:NAME:SPLIT'),
    (['--data=/no/such/folder'], "The image folder '/no/such/folder' does not exist"),
    (['--held_out=/no/such/run'], 'Pass --data or --held_out, not both.'),
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


def test_a_regression_model_tunes_its_saturation(tiny_run, tmp_path):
  """A regression model's one decoding setting is a chroma gain: tuned on the
  run's held-out photos, exported as its default, used by every loader."""
  result = run_module(['colorjax.tune', f'--checkpoint={tiny_run}', f'--out={tmp_path}/tune',
                       '--saturations=1,1.5', '--min_gain_db=-99',
                       f'--export={tmp_path}/tuned'])
  record = json.load(open(f'{tmp_path}/tune/tune.json'))
  assert [r['saturation'] for r in record['rows']] == [1.0, 1.5]
  assert 'adjustment' not in record['rows'][0] and 'chosen' in result.stdout
  assert 'hint_spread' not in record['rows'][0]  # Propagation is a hint model's only.
  bad = run_module(['colorjax.tune', f'--checkpoint={tiny_run}', f'--out={tmp_path}/bad',
                    '--hint_spreads=0.25'], check=False)
  assert bad.returncode == 1 and bad.stderr.count('error: ') == 1
  assert 'for a model trained with colour hints' in bad.stderr
  tuned, variables, _ = inference.load_model(f'{tmp_path}/tuned')
  plain, _, _ = inference.load_model(tiny_run)
  saturation = getattr(tuned, 'saturation', 1.0)  # 1: the plain network.
  assert saturation == record['choice']['saturation']
  l = jax.random.uniform(jax.random.key(0), (2, 32, 32, 1), minval=-1)
  np.testing.assert_allclose(
      tuned.apply(variables, l, train=False),
      np.clip(saturation * plain.apply(variables, l, train=False), -1, 1), atol=1e-6)
  # evaluate --held_out scores the same photos as tune, with the same code.
  result = run_module(['colorjax.evaluate', f'--checkpoint={tmp_path}/tuned',
                       f'--held_out={tiny_run}', f'--out={tmp_path}/held_out'])
  scored = json.load(open(f'{tmp_path}/held_out/metrics.json'))
  assert scored['settings']['images'] == record['settings']['images']
  assert scored['settings']['data'] == f'held out by {tiny_run}'
  np.testing.assert_allclose(scored['model']['psnr'], record['choice']['psnr'], rtol=1e-6)
  # A bad value is one sentence; decoding settings of the other head are refused.
  result = run_module(['colorjax.tune', f'--checkpoint={tiny_run}', f'--out={tmp_path}/bad',
                       '--saturations=0'], check=False)
  errors = [l for l in result.stderr.splitlines() if l.startswith('error: ')]
  assert result.returncode == 1 and len(errors) == 1
  assert 'The saturation must be a positive number (1: as trained), not 0.0.' in errors[0]
  with pytest.raises(ValueError, match='holds a regression model, which takes no adjustment'):
    inference.export(tiny_run, str(tmp_path / 'export'), adjustment=0.2)


def test_training_evaluation_and_the_command_give_one_psnr(tmp_path, photo_folder):
  """One checkpoint, one score: the evaluation at the end of a bfloat16 run
  and colorjax.evaluate of the same eval crops at their own size agree."""
  config = tiny_config(photo_folder, steps=2, half_precision=True)
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config, workdir, mesh=parallel.make_mesh(1))
  with open(os.path.join(workdir, 'eval_metrics.jsonl')) as f:
    logged = json.loads(f.read().splitlines()[-1])
  # The crops that training evaluated, as files.
  source = sources.open_source(config.data, 'eval')
  crops, size = tmp_path / 'crops', config.data.image_size
  crops.mkdir()
  for i in sources.scan(source, gray_threshold=0, name='eval'):
    image = images.fit_size(source.load(int(i)), size, config.data.resize_shorter)
    Image.fromarray(input_pipeline.center_crop(image, size)).save(crops / f'{i:03d}.png')
  model, variables, _ = inference.load_model(workdir)
  photos, names = sources.open_images(str(crops))
  summary, rows, _, _ = evaluate.evaluate(colorize.Colorizer(model, variables), photos,
                                          names, colorize.NATIVE, grid_images=0)
  assert len(rows) == len(names) > 1
  for key in train.EVAL_METRICS:
    assert logged[key] == pytest.approx(summary['model'][key], rel=1e-4, abs=1e-4), key
  for key in train.EVAL_GRAY_METRICS:
    assert logged[f'gray_{key}'] == pytest.approx(summary['gray'][key], rel=1e-4, abs=1e-4), key

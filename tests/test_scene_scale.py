"""benchmarks/scene_scale.py: its scales and scores are what they say."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from tests.conftest import run_module
from tests.conftest import tiny_overrides
from tests.conftest import write_photo_folder

sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
import scene_scale  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_least_squares_scale_recovers_a_known_scale():
  ab = np.random.default_rng(0).normal(size=(50, 2))
  assert scene_scale.least_squares_scale(ab, 0.4 * ab) == pytest.approx(0.4)
  assert scene_scale.least_squares_scale(np.zeros((5, 2)), ab[:5]) == 0.0


def test_ridge_recovers_weights_and_shrinks_them():
  rng = np.random.default_rng(1)
  features = rng.normal(size=(200, 3))
  weights = np.array([1.0, -2.0, 0.5])
  np.testing.assert_allclose(scene_scale.ridge(features, features @ weights, 0.0), weights,
                             atol=1e-8)
  shrunk = scene_scale.ridge(features, features @ weights, 1e4)
  assert np.linalg.norm(shrunk) < 0.2 * np.linalg.norm(weights)


def test_score_of_gray_truth_and_half():
  rng = np.random.default_rng(2)
  photos = [{'folder': name, 'ab': 20 * rng.normal(size=(64, 2)), 'truth': None}
            for name in ('a', 'b')]
  for photo in photos:
    photo['truth'] = photo['ab'].copy()
  gray = scene_scale.score(photos, [0.0, 0.0])
  assert gray['gain_db'] == pytest.approx(0.0) and gray['chroma_share'] == 0.0
  truth = scene_scale.score(photos, [1.0, 1.0])
  assert truth['gain_db'] > 40 and truth['chroma_share'] == pytest.approx(1.0)
  assert truth['below_gray'] == 0.0 and set(truth) >= {'gain_db_a', 'gain_db_b'}
  # Half the truth's colour: the error is a quarter of gray's, 6 dB.
  half = scene_scale.score(photos, [0.5, 0.5])
  assert half['gain_db'] == pytest.approx(10 * np.log10(4), abs=0.01)
  assert half['chroma_share'] == pytest.approx(0.5)
  # Twice the colour is as far from the truth as gray: no gain.
  assert scene_scale.score(photos, [2.0, 2.0])['gain_db'] == pytest.approx(0.0, abs=0.01)


def test_evidence_compares_the_gates_chroma_with_the_truths_per_folder():
  truth = np.array([[3.0, 4.0], [0.0, 0.0]])  # Mean chroma 2.5.
  photos = [{'folder': 'a', 'gate_chroma': 1.5, 'truth': truth},
            {'folder': 'a', 'gate_chroma': 3.5, 'truth': 2 * truth},
            {'folder': 'b', 'gate_chroma': 2.5, 'truth': truth}]
  rows = {row['folder']: row for row in scene_scale.evidence(photos)}
  assert rows['a']['photos'] == 2 and rows['all']['photos'] == 3
  assert rows['a']['evidence'] == pytest.approx(2.5)
  assert rows['a']['true_chroma'] == pytest.approx(3.75)
  assert rows['a']['squared_gap'] == pytest.approx((1.0 + 2.25) / 2)
  assert rows['a']['correlation'] == pytest.approx(1.0)
  assert rows['b']['squared_gap'] == 0.0 and np.isnan(rows['b']['correlation'])


def test_lightness_statistics_of_a_known_photo():
  ramp = np.tile(np.linspace(-1, 1, 11), (5, 1))  # Rows of -1 .. 1, steps of 0.2.
  stats = scene_scale.lightness_statistics(ramp)
  assert stats[0] == pytest.approx(0.0, abs=1e-6)  # Mean.
  assert stats[1] == pytest.approx(np.std(ramp))
  assert stats[2] == pytest.approx(0.2)  # Only across the columns.
  np.testing.assert_allclose(stats[3:], np.percentile(ramp, [5, 25, 50, 75, 95]), atol=1e-6)


def check_the_command(run: str, tmp_path) -> None:
  """benchmarks/scene_scale.py on a tiny run of 12 photos (either head; the
  classification branch is run by tests/test_encoder_unet.py on its run):
  the held-out and fitted photos are the run's, every row is there, and the
  oracle's scale is at least as good as none and as gray."""
  out = str(tmp_path / 'scale.json')
  command = [sys.executable, os.path.join(REPO, 'benchmarks', 'scene_scale.py'),
             f'--checkpoint={run}', '--resolution=32', '--scene_chromas=6',
             '--feature_sets=pooled,pooled+spread+lightness', '--boosted', '--cross_fit=2',
             f'--out={out}']
  subprocess.run(command, check=True, cwd=REPO, capture_output=True, timeout=600,
                 env=dict(os.environ, PYTHONPATH=REPO))
  with open(out) as f:
    result = json.load(f)
  # Every training photo is fitted on (--train_photos is far above their number).
  held_out = result['environment']['held_out_photos']
  assert held_out >= 1 and result['environment']['fitted_on'] == 12 - held_out
  assert set(result['environment']['mean_scale_held_out']) == {'photos'}
  rows = {row['scale']: row for row in result['rows']}
  feature_sets = ('pooled', 'pooled+spread+lightness')
  assert set(rows) == {
      'none', 'scene gate 6', 'oracle, at most 1.0', 'oracle, at most 1.5',
      *(f'learned from {parts}, {learner}' for parts in feature_sets
        for learner in ('ridge 10', 'ridge 1000', 'boosted trees',
                        'ridge 1000, 2-fold on the held-out photos')),
      *(f'matched to the chroma learned from {parts}, ridge {penalty}'
        for parts in feature_sets for penalty in (10, 1000))}
  # Each photo's least-squares scale, clipped to a range holding 0 and 1, is
  # the best one number there: never behind gray or the network as it is.
  best = rows['oracle, at most 1.5']['gain_db']
  assert best >= rows['none']['gain_db'] - 1e-3 and best >= -1e-3


def test_the_command_on_a_regression_run(tmp_path):
  folder = str(tmp_path / 'photos')
  write_photo_folder(folder, 12)
  run = str(tmp_path / 'run')
  run_module(['colorjax.main', '--config=configs/photos_encoder.py:unet',
              *tiny_overrides(run, folder, steps=2, **{
                  'model.decoder_widths': (8, 8, 8, 8, 8), 'global_batch_size': 4,
                  'eval.batch_size': 4})])
  check_the_command(run, tmp_path)


def test_a_feature_set_it_does_not_know_is_refused_in_one_sentence(tmp_path):
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, 'benchmarks', 'scene_scale.py'),
       f'--checkpoint={tmp_path}', '--feature_sets=pooled+colour'],
      cwd=REPO, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, PYTHONPATH=REPO))
  assert result.returncode != 0
  assert 'names pooled+colour; join parts of pooled, spread, lightness, imagenet by +' in result.stderr


def test_roc_auc_and_the_neutral_probe_on_separable_photos():
  assert scene_scale.roc_auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
  assert scene_scale.roc_auc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
  assert np.isnan(scene_scale.roc_auc([0.1, 0.2], [True, True]))
  rng = np.random.default_rng(3)
  neutral = np.arange(200) % 4 == 0
  features = rng.normal(size=(200, 3)) + 4.0 * neutral[:, None]  # Far apart.
  probability = scene_scale.neutral_probability(features, neutral, features)
  assert scene_scale.roc_auc(probability, neutral) == 1.0
  assert probability[neutral].min() > probability[~neutral].max()

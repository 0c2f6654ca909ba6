"""benchmarks/scene_scale.py: its scales and scores are what they say."""

import os
import sys

import numpy as np
import pytest

from tests.conftest import REPO

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

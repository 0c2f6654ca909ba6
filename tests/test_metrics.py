"""Every metric against an independent implementation or a known answer."""

import os

import jax
import numpy as np
import pytest
import skimage.data
import skimage.metrics
import sklearn.metrics

from colorjax import metrics
from tests.conftest import REPO

SEED_CONFUSION = os.path.join(REPO, '..', 'shared', 'data', 'seed', 'confusion_matrix.csv')


def _pair(seed=0, shape=(70, 90, 3)):
  """A photo crop and a noisy version of it, floats in [0, 1]."""
  truth = skimage.data.astronaut()[100:100 + shape[0], 200:200 + shape[1]] / 255.0
  noise = np.random.default_rng(seed).normal(0, 0.05, shape)
  return np.clip(truth + noise, 0, 1).astype(np.float32), truth.astype(np.float32)


def _padded(x, size=(96, 128)):
  out = np.zeros(size + x.shape[2:], np.float32)
  out[:x.shape[0], :x.shape[1]] = x
  mask = np.zeros(size, bool)
  mask[:x.shape[0], :x.shape[1]] = True
  return out, mask


def test_psnr_matches_skimage_with_and_without_padding():
  pred, truth = _pair()
  expected = skimage.metrics.peak_signal_noise_ratio(truth, pred, data_range=1.0)
  everywhere = np.ones(pred.shape[:2], bool)
  assert float(metrics.masked_psnr(pred, truth, everywhere)) == pytest.approx(expected, abs=0.01)
  (pred_p, mask), (truth_p, _) = _padded(pred), _padded(truth)
  pred_p[~mask] = 0.7  # Whatever lies off the mask must not count.
  assert float(metrics.masked_psnr(pred_p, truth_p, mask)) == pytest.approx(expected, abs=0.01)


def test_psnr_of_an_exact_colorization_is_finite_at_the_8_bit_floor():
  # A gray photo's gray baseline is exact; one such image must not make a
  # set's mean PSNR infinite (CIFAR-10's test split holds some).
  _, truth = _pair()
  everywhere = np.ones(truth.shape[:2], bool)
  exact = float(metrics.masked_psnr(truth, truth, everywhere))
  assert exact == pytest.approx(10 * np.log10(12 * 255.0**2), abs=1e-3)
  off_by_one_level = np.clip(truth + 1 / 255, 0, 1)
  assert float(metrics.masked_psnr(off_by_one_level, truth, everywhere)) < exact - 5


def test_ssim_matches_skimage_gaussian_ssim_with_and_without_padding():
  pred, truth = _pair(1)
  expected = skimage.metrics.structural_similarity(
      truth, pred, channel_axis=-1, data_range=1.0, gaussian_weights=True,
      sigma=1.5, use_sample_covariance=False)
  everywhere = np.ones(pred.shape[:2], bool)
  assert float(metrics.masked_ssim(pred, truth, everywhere)) == pytest.approx(expected, abs=1e-3)
  (pred_p, mask), (truth_p, _) = _padded(pred), _padded(truth)
  pred_p[~mask] = 0.3
  assert float(metrics.masked_ssim(pred_p, truth_p, mask)) == pytest.approx(expected, abs=1e-3)


def _seed_labels(ab):
  """Independent binning: np.digitize on 8 equal bins over [-1, 1]."""
  return np.clip(np.digitize(ab, np.linspace(-1, 1, 9)[1:-1]), 0, 7).ravel()


@pytest.mark.parametrize('seed,spread', [(0, 1.0), (1, 0.2)])
def test_classification_metrics_match_sklearn(seed, spread):
  rng = np.random.default_rng(seed)
  ab_true = np.clip(rng.normal(0, 0.4, (40, 50, 2)), -1, 1).astype(np.float32)
  ab_pred = np.clip(rng.normal(0, 0.4 * spread, (40, 50, 2)), -1, 1).astype(np.float32)
  mask = np.ones((40, 50), bool)
  mask[30:] = False
  got = metrics.classification_metrics(metrics.confusion(ab_pred, ab_true, mask))
  y_true, y_pred = _seed_labels(ab_true[:30]), _seed_labels(ab_pred[:30])
  expected = {
      'accuracy': sklearn.metrics.accuracy_score(y_true, y_pred),
      'precision': sklearn.metrics.precision_score(y_true, y_pred, average='macro', zero_division=1),
      'recall': sklearn.metrics.recall_score(y_true, y_pred, average='macro', zero_division=1),
      'f1': sklearn.metrics.f1_score(y_true, y_pred, average='macro', zero_division=1),
  }
  for key, value in expected.items():
    assert got[key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.skipif(not os.path.exists(SEED_CONFUSION), reason='needs ../shared/data/seed')
def test_seed_confusion_matrix_reproduces_the_seed_report():
  matrix = np.loadtxt(SEED_CONFUSION, delimiter=',', skiprows=1)[:, 1:]
  got = metrics.classification_metrics(matrix)
  expected = {'accuracy': 0.5791, 'precision': 0.4414, 'recall': 0.1593, 'f1': 0.1620}
  for key, value in expected.items():
    assert got[key] == pytest.approx(value, abs=5e-5), key


def _auc(ab_pred, ab_true, mask=None):
  mask = np.ones(ab_true.shape[:2], bool) if mask is None else mask
  return metrics.auc(metrics.ab_error_histogram(ab_pred, ab_true, mask))


def test_auc_known_answers():
  ab_true = np.zeros((10, 10, 2), np.float32)
  assert _auc(ab_true, ab_true) == {'auc': 1.0, 'auc_rebalanced': 1.0}
  # Every pixel off by exactly 75.5 (a only): within t for t = 76..150.
  off = ab_true + np.array([75.5 / 128, 0], np.float32)
  assert _auc(off, ab_true)['auc'] == pytest.approx(75 / 151, abs=1e-6)
  # Integer errors count at their own threshold: error 10 is within t = 10.
  off10 = ab_true + np.array([6 / 128, 8 / 128], np.float32)
  assert _auc(off10, ab_true)['auc'] == pytest.approx(141 / 151, abs=1e-6)
  # Errors above 150 never count.
  assert _auc(ab_true + 1.5, ab_true)['auc'] == 0.0


def test_rebalanced_auc_weighs_colour_classes_equally():
  # 90 gray pixels predicted exactly; 10 red pixels predicted as gray (error 60).
  ab_true = np.zeros((10, 10, 2), np.float32)
  ab_true[0] = [60 / 128, 0]
  ab_pred = np.zeros_like(ab_true)
  result = _auc(ab_pred, ab_true)
  red = 91 / 151  # Share of thresholds (60..150) at which the red pixels count.
  assert result['auc'] == pytest.approx(0.9 + 0.1 * red, abs=1e-6)
  assert result['auc_rebalanced'] == pytest.approx((1 + red) / 2, abs=1e-6)
  mask = np.ones((10, 10), bool)
  mask[0] = False  # Off the mask the red row does not exist.
  assert _auc(ab_pred, ab_true, mask) == {'auc': 1.0, 'auc_rebalanced': 1.0}


def test_colorfulness_known_answers():
  mask = np.ones((4, 6), bool)
  gray = np.full((4, 6, 3), 0.4, np.float32)
  assert float(metrics.colorfulness(gray, mask)) == pytest.approx(0, abs=1e-4)
  red = np.zeros((4, 6, 3), np.float32)
  red[..., 0] = 1.0  # rg = 255, yb = 127.5, no spread.
  assert float(metrics.colorfulness(red, mask)) == pytest.approx(
      0.3 * np.hypot(255, 127.5), rel=1e-5)
  half = red.copy()
  half[:2] = 0  # Half red, half black: rg and yb each spread around half.
  expected = np.hypot(127.5, 63.75) + 0.3 * np.hypot(127.5, 63.75)
  assert float(metrics.colorfulness(half, mask)) == pytest.approx(expected, rel=1e-5)
  masked = mask.copy()
  masked[:2] = False  # Only the red half counts.
  assert float(metrics.colorfulness(half, masked)) == pytest.approx(
      0.3 * np.hypot(255, 127.5), rel=1e-5)


def test_image_metrics_is_jittable_and_ignores_padding():
  pred, truth = _pair(2)
  ab_pred = np.zeros(pred.shape[:2] + (2,), np.float32)
  ab_true = np.full(pred.shape[:2] + (2,), 0.1, np.float32)
  full_mask = np.ones(pred.shape[:2], bool)
  direct = jax.jit(metrics.image_metrics)(pred, truth, ab_pred, ab_true, full_mask)
  padded = [_padded(x)[0] for x in (pred, truth, ab_pred, ab_true)]
  padded[0][80:] = 1.0  # Garbage where the mask is False.
  via_padding = jax.jit(metrics.image_metrics)(*padded, _padded(pred)[1])
  for key in direct:
    np.testing.assert_allclose(via_padding[key], direct[key], rtol=1e-4, atol=1e-4,
                               err_msg=key)
  assert float(direct['mse_ab']) == pytest.approx(0.01, rel=1e-5)

"""Colorization metrics in jax.numpy (jit-able), and their final reductions.

Metrics are of one image padded to a shape bucket (`image_metrics`), where a
mask [height, width] marks the real pixels, so that one compiled function
serves every image size in the bucket (all True for an unpadded image).

`score` is the one definition of how a colorization is scored, beside the
gray baseline: `colorjax.evaluate`, tuning and the evaluation during training
all call it, so one checkpoint gets one PSNR.

Images are RGB floats in [0, 1]; chroma is normalised ab (`color.normalize`).
Definitions:
- PSNR and SSIM on RGB through dm-pix (SSIM: 11x11 Gaussian window,
  sigma 1.5, averaged over the window positions inside the image); PSNR's
  MSE is floored at that of rounding to 8 bits, so an exact colorization
  (the gray baseline of a gray photo) scores 58.9 dB, not infinity, and the
  mean over a set stays finite;
- MSE on normalised ab, the seed study's MSE;
- the seed's classification metrics: a and b each quantised into 8 equal
  bins over [-1, 1], pooled into one 8-class problem; accuracy and macro
  precision, recall and F1 over the classes that occur, an undefined
  precision or recall counting as 1 (scikit-learn's zero_division=1);
- AuC (Zhang et al. 2016): the share of pixels whose ab error (Euclidean, in
  LAB units) is at most t, averaged over t = 0, 1, ..., 150; the rebalanced
  variant weighs each pixel by the inverse frequency of its ground-truth ab
  class (10x10 cells of the ab plane) in the evaluated set, i.e. averages the
  curve over the colour classes that occur;
- colorfulness (Hasler & Suesstrunk 2003) on RGB in 0..255 with signed
  rg = R - G and yb = (R + G) / 2 - B.
"""

import dm_pix as pix
import jax.numpy as jnp
import numpy as np

from colorjax import color

SEED_BINS = 8  # Bins per ab channel in the seed's classification metrics.
AUC_MAX_ERROR = 150  # Largest ab error threshold of the AuC sweep, LAB units.
AB_CLASS_SIZE = 10  # Side of an ab colour class for AuC rebalancing, LAB units.
AB_CLASS_RANGE = 110  # ab classes cover [-110, 110) in each channel.
_AB_CLASSES_PER_AXIS = 2 * AB_CLASS_RANGE // AB_CLASS_SIZE
NUM_AB_CLASSES = _AB_CLASSES_PER_AXIS ** 2
_SSIM_FILTER = 11
# The MSE of rounding [0, 1] values to 8 bits, (1/255)^2 / 12: PSNR's floor,
# so that PSNR is at most 10 log10(12 * 255^2) = 58.92 dB.
MSE_FLOOR = 1.0 / (12.0 * 255.0**2)


# ---------------------------------------------------------- one image --

def _masked_mean(x, mask):
  return jnp.sum(x * mask) / jnp.sum(mask)


def masked_psnr(rgb_pred, rgb_true, mask):
  """PSNR in dB over the masked pixels of [height, width, 3] images."""
  m = mask[..., None].astype(jnp.float32)
  # The squared error is 0 off the mask; rescale dm-pix's all-pixel mean.
  mse = pix.mse(rgb_pred * m, rgb_true * m) * mask.size / jnp.sum(mask)
  return -10.0 * jnp.log10(jnp.maximum(mse, MSE_FLOOR))


def masked_ssim(rgb_pred, rgb_true, mask):
  """Mean SSIM over the window positions that lie wholly inside the mask."""
  ssim_map = pix.ssim(rgb_pred, rgb_true, return_map=True)  # [h - 10, w - 10, 3]
  inside = mask[_SSIM_FILTER - 1:, _SSIM_FILTER - 1:, None].astype(jnp.float32)
  return jnp.sum(ssim_map * inside) / (3.0 * jnp.sum(inside))


def colorfulness(rgb, mask):
  """Hasler & Suesstrunk colorfulness of RGB in [0, 1], over the masked pixels."""
  r, g, b = jnp.moveaxis(rgb * 255.0, -1, 0)
  rg, yb = r - g, 0.5 * (r + g) - b
  mean_rg, mean_yb = _masked_mean(rg, mask), _masked_mean(yb, mask)
  var_rg = _masked_mean(jnp.square(rg - mean_rg), mask)
  var_yb = _masked_mean(jnp.square(yb - mean_yb), mask)
  return jnp.sqrt(var_rg + var_yb) + 0.3 * jnp.sqrt(mean_rg**2 + mean_yb**2)


def seed_bins(ab):
  """The seed's 8 equal bins over [-1, 1] of normalised a and b."""
  bins = jnp.floor((ab + 1.0) / 2.0 * SEED_BINS).astype(jnp.int32)
  return jnp.clip(bins, 0, SEED_BINS - 1)


def confusion(ab_pred, ab_true, mask):
  """[8, 8] counts (rows true, columns predicted) of a and b bins pooled."""
  index = seed_bins(ab_true) * SEED_BINS + seed_bins(ab_pred)
  weights = jnp.broadcast_to(mask[..., None], index.shape).astype(jnp.float32)
  counts = jnp.zeros(SEED_BINS**2).at[index.ravel()].add(weights.ravel())
  return counts.reshape(SEED_BINS, SEED_BINS)


def ab_error_histogram(ab_pred, ab_true, mask):
  """[classes, 152] counts of pixels by ground-truth ab class and ceil(error).

  Error is the Euclidean ab distance in LAB units; column 151 holds every
  error above 150. Normalised inputs (ab / 128).
  """
  scale = 128.0
  error = jnp.linalg.norm((ab_pred - ab_true) * scale, axis=-1)
  column = jnp.clip(jnp.ceil(error), 0, AUC_MAX_ERROR + 1).astype(jnp.int32)
  cell = jnp.floor((ab_true * scale + AB_CLASS_RANGE) / AB_CLASS_SIZE)
  cell = jnp.clip(cell, 0, _AB_CLASSES_PER_AXIS - 1).astype(jnp.int32)
  ab_class = cell[..., 0] * _AB_CLASSES_PER_AXIS + cell[..., 1]
  width = AUC_MAX_ERROR + 2
  counts = jnp.zeros(NUM_AB_CLASSES * width).at[(ab_class * width + column).ravel()].add(
      mask.astype(jnp.float32).ravel())
  return counts.reshape(NUM_AB_CLASSES, width)


def image_metrics(rgb_pred, rgb_true, ab_pred, ab_true, mask):
  """Every metric of one padded image: scalars and the counts to pool.

  Args:
    rgb_pred, rgb_true: [height, width, 3] in [0, 1].
    ab_pred, ab_true: [height, width, 2] normalised ab.
    mask: [height, width] bool, True on the image's real pixels.
  """
  return {
      'psnr': masked_psnr(rgb_pred, rgb_true, mask),
      'ssim': masked_ssim(rgb_pred, rgb_true, mask),
      'mse_ab': _masked_mean(jnp.mean(jnp.square(ab_pred - ab_true), -1), mask),
      'colorfulness': colorfulness(rgb_pred, mask),
      'colorfulness_gt': colorfulness(rgb_true, mask),
      'confusion': confusion(ab_pred, ab_true, mask),
      'ab_error_histogram': ab_error_histogram(ab_pred, ab_true, mask),
  }


def score(rgb_true, rgb_pred, ab_pred, mask):
  """Every metric of a colorization and of the gray baseline, for one image.

  Args:
    rgb_true: uint8 [height, width, 3], the photo.
    rgb_pred: uint8 [height, width, 3], its colorization as the user gets it:
      `color.compose` of the photo's l and `ab_pred`.
    ab_pred: [height, width, 2] normalised ab that the model predicted.
    mask: [height, width] bool, True on the image's real pixels.

  Returns:
    (the colorization's `image_metrics`, the gray baseline's).
  """
  l, ab_true = color.normalize(color.rgb_to_lab(rgb_true))
  as_float = lambda rgb: rgb.astype(jnp.float32) / 255.0
  truth = as_float(rgb_true)
  gray_ab = jnp.zeros_like(ab_true)
  return (image_metrics(as_float(rgb_pred), truth, ab_pred, ab_true, mask),
          image_metrics(as_float(color.gray(l)), truth, gray_ab, ab_true, mask))


# ------------------------------------------------------ final reductions --

def classification_metrics(confusion_matrix) -> dict[str, float]:
  """Accuracy and macro precision, recall, F1 from a confusion matrix.

  Rows are true classes, columns predicted. Macro averages run over the
  classes that occur as truth or prediction; an undefined precision or recall
  counts as 1 (scikit-learn's zero_division=1).
  """
  c = np.asarray(confusion_matrix, np.float64)
  tp, predicted, actual = np.diag(c), c.sum(axis=0), c.sum(axis=1)
  present = (predicted + actual) > 0
  precision = np.divide(tp, predicted, out=np.ones_like(tp), where=predicted > 0)
  recall = np.divide(tp, actual, out=np.ones_like(tp), where=actual > 0)
  f1 = 2 * tp / np.where(present, predicted + actual, 1.0)
  return {'accuracy': float(tp.sum() / c.sum()),
          'precision': float(precision[present].mean()),
          'recall': float(recall[present].mean()),
          'f1': float(f1[present].mean())}


def auc(histogram) -> dict[str, float]:
  """Plain and class-rebalanced AuC from pooled `ab_error_histogram` counts."""
  h = np.asarray(histogram, np.float64)
  within = np.cumsum(h, axis=1)[:, :AUC_MAX_ERROR + 1]  # [classes, thresholds]
  per_class = h.sum(axis=1)
  occurs = per_class > 0
  plain = within.sum(axis=0) / per_class.sum()
  rebalanced = (within[occurs] / per_class[occurs, None]).mean(axis=0)
  return {'auc': float(plain.mean()), 'auc_rebalanced': float(rebalanced.mean())}

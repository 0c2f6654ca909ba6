"""Image-quality metrics, per image, in jax.numpy (jit-able, batched).

Images are RGB floats in [0, 1], [batch, height, width, 3]; chroma is
normalised ab [batch, height, width, 2] (see `colorjax.color.normalize`).
"""

import dm_pix as pix
import jax.numpy as jnp


def mse_ab(ab_pred, ab_true):
  """Mean squared error on normalised ab, per image [batch] (the seed's MSE)."""
  return jnp.mean(jnp.square(ab_pred - ab_true), axis=(1, 2, 3))


def psnr(rgb_pred, rgb_true):
  """Peak signal-to-noise ratio in dB on RGB in [0, 1], per image [batch]."""
  return pix.psnr(rgb_pred, rgb_true)


def ssim(rgb_pred, rgb_true):
  """Structural similarity on RGB in [0, 1] (11x11 Gaussian window), per image [batch]."""
  return pix.ssim(rgb_pred, rgb_true)

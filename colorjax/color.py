"""sRGB <-> CIE LAB in jax.numpy, and the normalisation the networks see.

The conversion follows scikit-image's `rgb2lab` / `lab2rgb` (sRGB, D65, 2-degree
observer) so that numbers agree with the usual reference, but is written in
jax.numpy: it runs inside jitted train steps, on any device, and is
differentiable everywhere (the branch points use safe `where`s, so gradients
never turn into NaN).

The networks read and write LAB in a normalised form; `normalize` and
`denormalize` are the one pair of functions that defines it:
  L in [0, 100]       <->  l  = L / 50 - 1      in [-1, 1]
  a, b in ~[-128, 127] <-> ab = (a, b) / 128    in ~[-1, 1]  (the seed's scaling)
"""

import jax
import jax.numpy as jnp
import numpy as np

# Constants are NumPy so that importing this module touches no device.
# sRGB (linear) -> XYZ, D65; the matrix scikit-image uses, inverted in float64.
_XYZ_FROM_RGB_F64 = np.array([[0.412453, 0.357580, 0.180423],
                              [0.212671, 0.715160, 0.072169],
                              [0.019334, 0.119193, 0.950227]])
_XYZ_FROM_RGB = _XYZ_FROM_RGB_F64.astype(np.float32)
_RGB_FROM_XYZ = np.linalg.inv(_XYZ_FROM_RGB_F64).astype(np.float32)
# Reference white of the D65 illuminant, 2-degree observer.
_D65_WHITE = np.array([0.95047, 1.0, 1.08883], np.float32)

_EPSILON = 0.008856  # CIE threshold (6/29)^3, as scikit-image writes it.
_KAPPA = 7.787       # Slope of the linear segment of f(t), as scikit-image.
_DELTA = 16.0 / 116.0

L_SCALE = 50.0   # l = L / L_SCALE - 1
AB_SCALE = 128.0  # ab = (a, b) / AB_SCALE


def _srgb_to_linear(v):
  """sRGB's decoding of v in [0, 1] (NumPy, float64)."""
  return np.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92)


# The linear value of each 8-bit sRGB level, computed in float64.
_LINEAR_FROM_LEVEL = _srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)


def _mix(x, matrix):
  """x [..., 3] times matrix^T (each output channel a weighted sum of x's),
  written out. As a matrix product with 3 terms it went to XLA:CPU's dot, a
  pass of its own between the elementwise passes around it, 13 times in
  `compose` (`fit_chroma`'s 12 steps and the conversion): written out it
  fuses with them, and `compose` of a 1024x768 photo took 64 ms instead of
  147 (2 cores, 2026-12-04; the same uint8 values but for 1 level on 3 in
  a million)."""
  return jnp.stack([sum(float(matrix[i, j]) * x[..., j] for j in range(3))
                    for i in range(3)], axis=-1)


def _safe_pow(x, exponent, floor):
  """x ** exponent for x >= floor; gradients stay finite below it."""
  return jnp.power(jnp.maximum(x, floor), exponent)


def rgb_to_lab(rgb):
  """Converts sRGB to CIE LAB.

  Args:
    rgb: [..., 3] array, either an integer type holding 0..255 (uint8 images)
      or floating point in [0, 1].

  Returns:
    [..., 3] float32 array of L in [0, 100] and a, b in about [-128, 127].
  """
  if jnp.issubdtype(rgb.dtype, jnp.integer):
    # 256 levels: their linear values are looked up, not raised to 2.4 (the
    # power was the conversion's dearest part: 6.5 against 2.8 ms for a
    # 16 x 96x96 batch on 2 cores, 2026-12-05).
    linear = jnp.take(jnp.asarray(_LINEAR_FROM_LEVEL), rgb.astype(jnp.int32), axis=0,
                      mode='clip')
  else:
    rgb = rgb.astype(jnp.float32)
    linear = jnp.where(rgb > 0.04045,
                       _safe_pow((rgb + 0.055) / 1.055, 2.4, 0.04045),
                       rgb / 12.92)
  xyz = _mix(linear, _XYZ_FROM_RGB) / _D65_WHITE
  f = jnp.where(xyz > _EPSILON,
                _safe_pow(xyz, 1.0 / 3.0, _EPSILON),
                _KAPPA * xyz + _DELTA)
  fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
  lightness = jnp.where(xyz[..., 1] > _EPSILON, 116.0 * fy - 16.0,
                        903.3 * xyz[..., 1])
  return jnp.stack([lightness, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def _lab_to_linear_rgb(lab, clip_z: bool):
  lab = lab.astype(jnp.float32)
  fy = (lab[..., 0] + 16.0) / 116.0
  fx = fy + lab[..., 1] / 500.0
  fz = fy - lab[..., 2] / 200.0
  if clip_z:
    fz = jnp.maximum(fz, 0.0)  # As scikit-image: z >= 0.
  f = jnp.stack([fx, fy, fz], axis=-1)
  xyz = jnp.where(f > 0.2068966, f ** 3, (f - _DELTA) / _KAPPA) * _D65_WHITE
  return _mix(xyz, _RGB_FROM_XYZ)


def _gamma(linear):
  return jnp.where(linear > 0.0031308,
                   1.055 * _safe_pow(linear, 1.0 / 2.4, 0.0031308) - 0.055,
                   12.92 * linear)


def lab_to_rgb(lab):
  """Converts CIE LAB to sRGB in [0, 1], clipping out-of-gamut colours.

  Args:
    lab: [..., 3] array of L, a, b.

  Returns:
    [..., 3] float32 array in [0, 1].
  """
  return jnp.clip(_gamma(_lab_to_linear_rgb(lab, clip_z=True)), 0.0, 1.0)


def fit_chroma(lab, iterations: int = 12):
  """Scales each pixel's (a, b) towards 0 until its colour lies in the sRGB gamut.

  Unlike the per-channel clipping of `lab_to_rgb`, this keeps L: an
  out-of-gamut prediction loses saturation, never lightness. The factor is
  found by bisection, to 2**-iterations.

  Args:
    lab: [..., 3] LAB with L in [0, 100].

  Returns:
    [..., 3] LAB with the same L, in gamut up to the bisection's precision.
  """
  def in_gamut(scale):
    scaled = jnp.concatenate([lab[..., :1], lab[..., 1:] * scale[..., None]], -1)
    linear = _lab_to_linear_rgb(scaled, clip_z=False)
    return jnp.all((linear >= -1e-6) & (linear <= 1 + 1e-6), axis=-1)

  def bisect(_, bounds):
    low, high = bounds
    middle = (low + high) / 2
    fits = in_gamut(middle)
    return jnp.where(fits, middle, low), jnp.where(fits, high, middle)

  ones = jnp.ones(lab.shape[:-1], jnp.float32)
  low, _ = jax.lax.fori_loop(0, iterations, bisect, (0.0 * ones, ones))
  scale = jnp.where(in_gamut(ones), ones, low)
  return jnp.concatenate([lab[..., :1], lab[..., 1:] * scale[..., None]], -1)


def normalize(lab):
  """Splits LAB into the network's input and target.

  Args:
    lab: [..., 3] LAB as returned by `rgb_to_lab`.

  Returns:
    (l, ab): [..., 1] lightness in [-1, 1] and [..., 2] chroma in about [-1, 1].
  """
  return lab[..., :1] / L_SCALE - 1.0, lab[..., 1:] / AB_SCALE


def denormalize(l, ab):
  """Inverse of `normalize`: joins normalised l [..., 1] and ab [..., 2] into LAB."""
  return jnp.concatenate([(l + 1.0) * L_SCALE, ab * AB_SCALE], axis=-1)


def compose(l, ab):
  """uint8 RGB of normalised l [..., 1] and ab [..., 2], as a user gets it:
  out-of-gamut colours lose chroma, never lightness (`fit_chroma`)."""
  rgb = lab_to_rgb(fit_chroma(denormalize(l, ab)))
  return jnp.round(rgb * 255).astype(jnp.uint8)


def gray(l):
  """uint8 RGB of the gray baseline: the photo's own L with a = b = 0."""
  return compose(l, jnp.zeros(l.shape[:-1] + (2,), jnp.float32))

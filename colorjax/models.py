"""Colorization networks: pure flax.linen functions of (variables, l) -> ab.

Both models read normalised lightness `l` [batch, height, width, 1] in [-1, 1]
and return normalised chroma `ab` [batch, height, width, 2] in [-1, 1] (tanh),
in float32 whatever `dtype` computes in (see `colorjax.color.normalize`).
With `num_logits=Q` they return Q float32 logits per pixel instead, one per
ab bin, for the classification loss (`colorjax.classification`).

Every convolution is flax's nn.Conv (same parameters, names, shapes and
initialisation); on a CPU, `conv_lowering` picks how some are computed
(Winograd for wide layers, one matrix product where the input is smaller than
the kernel), because XLA's CPU convolution is slow there. GPUs and TPUs keep
XLA's own convolution.

This module imports only jax, flax and numpy so that other research code can
use the networks without colorjax's data or training dependencies:

  model = models.UNet()
  variables = model.init(key, l, train=False)
  ab = model.apply(variables, l, train=False)
"""

import contextlib
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp

Dtype = Any


# --------------------------------------------------- convolution lowering --

LOWERINGS = ('xla', 'im2col', 'winograd')


def conv_lowering(height: int, width: int, in_channels: int, out_channels: int,
                  platform: str) -> str:
  """How a stride-1 3x3 convolution of a [batch, height, width, in_channels]
  input to out_channels is computed on `platform`: the one place that chooses
  (`conv_general_dilated` asks it).

  GPUs and TPUs keep XLA's convolution (cuDNN's on a GPU). On a CPU, measured
  by benchmarks/conv_lowering.py (value and both gradients, batch 32, 2 cores,
  jax 0.10.2, 2026-11-27; benchmarks/results/cpu_conv_lowering.json):
  - an input smaller than the kernel (the U-Net's 2x2 bottleneck) drops XLA
    off its fast path: 1,571 ms for 512 -> 1024 at 2x2, where one matrix
    product over the 9 shifted copies (im2col) takes 24 ms;
  - at 32x32 and above with 128 or more channels in and out (the seed CNN's
    four inner layers) Winograd F(2x2, 3x3): alone it wins clearly only for
    512 -> 256 (1,398 against 1,813 ms) and is within noise or behind for
    128 <-> 256, yet the whole CNN step is faster with all four than with
    the 256 <-> 512 pair alone (12.1, 12.1, 11.1 against 10.9, 10.4, 11.0
    img/s, interleaved, same day);
  - everywhere else XLA's own convolution is the fastest or within 25 ms
    (about 10%) of it.
  """
  if platform != 'cpu':
    return 'xla'
  if min(height, width) < 3:
    return 'im2col'
  if height * width >= 32 * 32 and min(in_channels, out_channels) >= 128:
    return 'winograd'
  return 'xla'


_FORCED = []  # A lowering forced by `forced_lowering`, innermost last.


@contextlib.contextmanager
def forced_lowering(lowering: str):
  """Traces every choosable convolution with `lowering` (one of LOWERINGS)
  instead of `conv_lowering`'s choice: for tests and benchmarks (e.g. FLOP
  counts of the plain convolution). Applies to tracing inside the block."""
  if lowering not in LOWERINGS:
    raise ValueError(f'lowering must be one of {LOWERINGS}, not {lowering!r}.')
  _FORCED.append(lowering)
  try:
    yield
  finally:
    _FORCED.pop()


def _padded(lhs, padding, extra=(0, 0)):
  """lhs [b, h, w, c] padded by ((top, bottom), (left, right)), and by
  `extra` more rows and columns at the end."""
  (top, bottom), (left, right) = padding
  return jnp.pad(lhs, ((0, 0), (top, bottom + extra[0]), (left, right + extra[1]), (0, 0)))


def _im2col(lhs, rhs, padding, precision):
  """All kh * kw shifted copies of the input side by side, [b, h, w, kh * kw
  * c], times the kernel as a [kh * kw * c, out] matrix: one matrix product
  with kh * kw times the input's memory."""
  kh, kw, cin, cout = rhs.shape
  padded = _padded(lhs, padding)
  height, width = padded.shape[1] - kh + 1, padded.shape[2] - kw + 1
  columns = jnp.concatenate([padded[:, i:i + height, j:j + width]
                             for i in range(kh) for j in range(kw)], axis=-1)
  return jnp.matmul(columns, rhs.reshape(kh * kw * cin, cout), precision=precision)


# Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016): each 2x2
# output tile comes from its 4x4 input tile with 16 products instead of 36,
# Y = A^T [(G g G^T) * (B^T d B)] A, as 16 matrix products [tiles, c] x
# [c, out]. Below, the four transforms along one axis at a time.

def _input_transform(d0, d1, d2, d3):
  """B^T along one axis: 4 input rows -> 4 transformed rows."""
  return d0 - d2, d1 + d2, d2 - d1, d1 - d3


def _kernel_transform(k0, k1, k2):
  """G along one axis: 3 kernel rows -> 4."""
  return k0, (k0 + k1 + k2) / 2, (k0 - k1 + k2) / 2, k2


def _kernel_transform_t(u0, u1, u2, u3):
  """G^T along one axis: 4 -> 3 (the kernel gradient's way back)."""
  return u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3


def _output_transform_t(p0, p1):
  """A along one axis: 2 output rows -> 4 (an output gradient's way back)."""
  return p0, p0 + p1, p0 - p1, -p1


def _tiled_size(height: int, width: int) -> tuple[int, int]:
  """The size covered by 2x2 output tiles: odd sides get one more row or column."""
  return height + height % 2, width + width % 2


def _winograd_tiles(x):
  """Input [b, h, w, c] -> transformed tiles [16, b * h/2 * w/2, c] (SAME
  padding; odd sizes get one more row or column of zeros)."""
  batch, height, width, channels = x.shape
  rows, cols = _tiled_size(height, width)
  padded = _padded(x, ((1, 1), (1, 1)), extra=(rows - height, cols - width))
  across = _input_transform(*(padded[:, r:r + rows:2] for r in range(4)))
  tiles = [v for t in across
           for v in _input_transform(*(t[:, :, s:s + cols:2] for s in range(4)))]
  return jnp.stack(tiles).reshape(16, -1, channels)


def _winograd_untile(products, batch: int, height: int, width: int):
  """Products [16, tiles, out] -> output [b, h, w, out]: A^T m A per tile."""
  rows, cols = _tiled_size(height, width)
  m = products.reshape(4, 4, batch, rows // 2, cols // 2, products.shape[-1])
  top = [m[0, j] + m[1, j] + m[2, j] for j in range(4)]
  bottom = [m[1, j] - m[2, j] - m[3, j] for j in range(4)]
  out = [jnp.stack([r[0] + r[1] + r[2], r[1] - r[2] - r[3]], axis=3) for r in (top, bottom)]
  out = jnp.stack(out, axis=2)  # [b, h/2, 2, w/2, 2, out]
  return out.reshape(batch, rows, cols, -1)[:, :height, :width]


@jax.custom_vjp
def _winograd_conv(x, kernel):
  """The 3x3 SAME convolution of x [b, h, w, c] with kernel [3, 3, c, out]."""
  tiles = jnp.stack([v for r in _kernel_transform(*kernel) for v in _kernel_transform(*r)])
  return _winograd_untile(jnp.matmul(_winograd_tiles(x), tiles), *x.shape[:3])


def _winograd_conv_fwd(x, kernel):
  return _winograd_conv(x, kernel), (x, kernel)


def _winograd_conv_bwd(residuals, dy):
  """Both gradients with forward-style transforms only (automatic
  differentiation of the forward scatters every tile back: 1.4x slower)."""
  x, kernel = residuals
  batch, height, width, channels = x.shape
  # The input's gradient is the convolution of dy with the flipped kernel.
  dx = _winograd_conv(dy, jnp.transpose(kernel[::-1, ::-1], (0, 1, 3, 2)))
  # The kernel's: dU = V^T dM per transformed position, dM = A dy A^T.
  rows, cols = _tiled_size(height, width)
  dy = _padded(dy, ((0, 0), (0, 0)), extra=(rows - height, cols - width))
  across = [_output_transform_t(dy[:, 0::2, q::2], dy[:, 1::2, q::2]) for q in range(2)]
  dm = jnp.stack([v for u in range(4) for v in _output_transform_t(across[0][u], across[1][u])])
  du = jnp.einsum('tnc,tno->tco', _winograd_tiles(x), dm.reshape(16, -1, dy.shape[-1]))
  rows_back = _kernel_transform_t(*du.reshape(4, 4, channels, -1))
  return dx, jnp.stack([jnp.stack(_kernel_transform_t(*r)) for r in rows_back])


_winograd_conv.defvjp(_winograd_conv_fwd, _winograd_conv_bwd)


def _winograd(lhs, rhs, padding, precision):
  """Winograd F(2x2, 3x3) for a 3x3 kernel with padding 1: the same
  convolution up to float rounding (about 1e-6 relative), 2.25x fewer
  multiplications, four times the input's memory for the transformed tiles.
  `precision` is not used (CPU matrix products are float32 throughout)."""
  del padding, precision  # ((1, 1), (1, 1)), as conv_general_dilated checks.
  return _winograd_conv(lhs, rhs)


_NHWC = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1),
                                 out_spec=(0, 3, 1, 2))


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None,
                         feature_group_count=1, batch_group_count=1,
                         precision=None, preferred_element_type=None, *,
                         lowering: str | None = None):
  """`lax.conv_general_dilated`, computed the way `conv_lowering` chooses.

  The networks pass it to nn.Conv (`conv_general_dilated=`), which keeps the
  parameters' names, shapes and initialisation. Every lowering computes the
  same function up to float rounding; only stride-1, undilated, ungrouped
  NHWC convolutions have a choice, anything else goes to XLA. The platform is
  the default backend's at trace time.

  Args:
    lowering: force one of LOWERINGS (for tests and benchmarks).
  """
  simple = (all(s == 1 for s in window_strides)
            and all(d == 1 for d in tuple(lhs_dilation or ()) + tuple(rhs_dilation or ()))
            and feature_group_count == 1 and batch_group_count == 1
            and preferred_element_type is None and lhs.ndim == 4
            and lax.conv_dimension_numbers(lhs.shape, rhs.shape,
                                           dimension_numbers) == _NHWC)
  if simple:
    kernel = rhs.shape[:2]
    if isinstance(padding, str):
      padding = lax.padtype_to_pads(lhs.shape[1:3], kernel, (1, 1), padding)
    padding = tuple(tuple(p) for p in padding)
    if lowering is None and _FORCED:
      lowering = _FORCED[-1]
    if lowering is None:
      lowering = conv_lowering(*lhs.shape[1:], rhs.shape[-1], jax.default_backend())
    if lowering == 'winograd' and (kernel != (3, 3) or padding != ((1, 1), (1, 1))):
      lowering = 'im2col'  # F(2x2, 3x3) is for 3x3 kernels that keep the size.
  if not simple or lowering == 'xla':
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
        dimension_numbers, feature_group_count, batch_group_count, precision,
        preferred_element_type)
  return (_im2col if lowering == 'im2col' else _winograd)(lhs, rhs, padding, precision)


# nn.Conv itself (same parameters, names and initialisation), computed as
# `conv_lowering` chooses.
Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)


# ----------------------------------------------------------------- networks --


class CNN(nn.Module):
  """The seed study's baseline: eight 3x3 convolutions at full resolution.

  Stride 1, same padding, ReLU after the first seven, tanh on the output, no
  normalisation and no down-sampling; 3,099,714 parameters by default.
  """
  channels: Sequence[int] = (64, 128, 256, 512, 256, 128, 64)
  dtype: Dtype = jnp.float32  # Computation dtype; parameters stay float32.
  num_logits: int = 0  # 0: the ab head (2 channels, tanh); Q: Q logits.

  @nn.compact
  def __call__(self, l, *, train: bool):
    del train  # No layer behaves differently in training.
    x = l.astype(self.dtype)
    for i, width in enumerate(self.channels):
      x = nn.relu(Conv(width, (3, 3), dtype=self.dtype, name=f'conv{i}')(x))
    x = Conv(self.num_logits or 2, (3, 3), dtype=self.dtype, name='head')(x)
    return _output(x, self.num_logits)


def _output(x, num_logits: int):
  """The head's float32 output: tanh for ab, logits as they are."""
  x = x.astype(jnp.float32)
  return x if num_logits else jnp.tanh(x)


class _ConvBlock(nn.Module):
  """Two 3x3 convolutions, each followed by normalisation and ReLU."""
  width: int
  norm: str
  dtype: Dtype
  axis_name: str | None

  @nn.compact
  def __call__(self, x, *, train: bool):
    for i in range(2):
      x = Conv(self.width, (3, 3), use_bias=self.norm == 'none',
                  dtype=self.dtype, name=f'conv{i}')(x)
      if self.norm == 'batch':
        # With axis_name set (data-parallel training), the batch statistics
        # are averaged over devices with lax.pmean: the global batch decides.
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                         axis_name=self.axis_name if train else None,
                         dtype=self.dtype, name=f'norm{i}')(x)
      elif self.norm == 'group':
        x = nn.GroupNorm(num_groups=min(32, self.width), dtype=self.dtype,
                         name=f'norm{i}')(x)
      x = nn.relu(x)
    return x


class Upsample(nn.Module):
  """A 2x2, stride-2 transposed convolution, computed as one matrix product.

  The same function, parameter names and shapes (kernel [2, 2, in, out],
  bias [out]) and initialisation as nn.ConvTranspose(features, (2, 2),
  strides=(2, 2)): with stride equal to kernel size each output pixel sees
  exactly one input pixel, so the layer is a product and a reshape. XLA's CPU
  backend computes the gradient of the dilated convolution that
  nn.ConvTranspose lowers to about 80x slower than this product (measured on
  the CPU, 2026-11-26: 1.02 s against 0.013 s for a [32, 16, 16, 256] input).
  """
  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (2, 2, x.shape[-1], self.features), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,),
                      jnp.float32)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    # nn.ConvTranspose applies the kernel spatially flipped.
    y = jnp.einsum('bhwc,ijcd->bhiwjd', x, kernel[::-1, ::-1])
    batch, height, _, width, _, features = y.shape
    return y.reshape(batch, 2 * height, 2 * width, features) + bias


def max_pool_2x2(x):
  """2x2 max pooling with stride 2 of [batch, height, width, c], height and
  width even: nn.max_pool(x, (2, 2), strides=(2, 2)) as elementwise maxima
  of the four strided views.

  Same values; the gradient differs only where a window holds the same
  maximum twice, which it shares among them instead of giving it to the
  first (after a ReLU such windows hold zeros, whose gradient the ReLU stops
  anyway). XLA's CPU backend computes nn.max_pool's gradient with index
  iotas, pairwise reduce-windows and a scatter: 80 ms of the 599 ms step of
  configs/photos_unet.py (batch 32 at 64x64, 2 cores, 2026-11-27;
  benchmarks/results/cpu_profile_step_before.json), and 27.8 ms for one
  [32, 64, 64, 16] layer against 2.1 ms for this.
  """
  top = jnp.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2])
  bottom = jnp.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2])
  return jnp.maximum(top, bottom)


NORMS = ('batch', 'group', 'none')


class UNet(nn.Module):
  """U-Net with concatenated skip connections.

  Per level two 3x3 conv + norm + ReLU, 2x2 max-pool down, 2x2 stride-2
  transposed convolution up, a 1x1 head and tanh. The default (widths
  64-128-256-512, bottleneck 1024, BatchNorm) has 31,036,546 parameters.
  Inputs of any size work: they are padded (edge values) to a multiple of
  2**len(widths) and the output is cropped back.
  """
  widths: Sequence[int] = (64, 128, 256, 512)
  bottleneck: int = 1024
  norm: str = 'batch'  # One of NORMS.
  dtype: Dtype = jnp.float32  # Computation dtype; parameters stay float32.
  axis_name: str | None = None  # Device axis to average BatchNorm statistics.
  num_logits: int = 0  # 0: the ab head (2 channels, tanh); Q: Q logits.

  @nn.compact
  def __call__(self, l, *, train: bool):
    if self.norm not in NORMS:
      raise ValueError(f'UNet norm must be one of {NORMS}, not {self.norm!r}.')
    height, width = l.shape[-3:-1]
    multiple = 2 ** len(self.widths)
    pad_h, pad_w = -height % multiple, -width % multiple
    x = jnp.pad(l, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode='edge')
    x = x.astype(self.dtype)

    block = lambda w, name: _ConvBlock(w, self.norm, self.dtype,
                                       self.axis_name, name=name)
    skips = []
    for i, w in enumerate(self.widths):
      x = block(w, f'down{i}')(x, train=train)
      skips.append(x)
      x = max_pool_2x2(x)
    x = block(self.bottleneck, 'bottleneck')(x, train=train)
    for i, w in reversed(list(enumerate(self.widths))):
      x = Upsample(w, dtype=self.dtype, name=f'upsample{i}')(x)
      x = jnp.concatenate([skips[i], x], axis=-1)
      x = block(w, f'up{i}')(x, train=train)
    x = Conv(self.num_logits or 2, (1, 1), dtype=self.dtype, name='head')(x)
    return _output(x[:, :height, :width], self.num_logits)


def _cnn(model_config, dtype, axis_name, num_logits):
  del axis_name  # The CNN has no BatchNorm.
  return CNN(channels=tuple(model_config['cnn_channels']), dtype=dtype,
             num_logits=num_logits)


def _unet(model_config, dtype, axis_name, num_logits):
  return UNet(widths=tuple(model_config['widths']),
              bottleneck=model_config['bottleneck'], norm=model_config['norm'],
              dtype=dtype, axis_name=axis_name, num_logits=num_logits)


BUILDERS = {'cnn': _cnn, 'unet': _unet}


def from_config(model_config, *, dtype: Dtype = jnp.float32,
                axis_name: str | None = None, num_logits: int = 0) -> nn.Module:
  """The network that a config's `model` section describes.

  Args:
    model_config: a ConfigDict or the plain dict that checkpoints store, with
      'name' ('cnn' or 'unet') and that model's fields.
    dtype: computation dtype.
    axis_name: device axis for BatchNorm statistics in data-parallel training.
    num_logits: 0 for the ab head, Q for a head of Q logits per pixel.
  """
  name = model_config['name']
  if name not in BUILDERS:
    raise ValueError(f'Model name must be one of {sorted(BUILDERS)}, not {name!r}.')
  return BUILDERS[name](model_config, dtype, axis_name, num_logits)

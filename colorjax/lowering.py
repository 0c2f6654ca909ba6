"""How colorjax's convolutions are computed: one documented rule per shape and
platform (`conv_lowering`), and `conv_general_dilated`, which nn.Conv calls.

XLA's CPU convolution is slow where the input is smaller than the kernel
(2 GFLOP/s at the U-Net's 2x2 bottleneck) and at wide layers (measured in
docs/experiments.md, "CPU: train step"); there a 3x3 convolution is computed as one
matrix product over nine shifted copies (im2col) or by Winograd's F(2x2, 3x3)
with its own VJP. Every lowering computes the same function up to float
rounding; GPUs and TPUs keep XLA's convolution (cuDNN).

Imports only jax, like `colorjax.models`, which uses it.
"""

import contextlib
import functools

import jax
from jax import lax
import jax.numpy as jnp

LOWERINGS = ('xla', 'im2col', 'winograd')


def conv_lowering(height: int, width: int, in_channels: int, out_channels: int,
                  platform: str, kernel: tuple[int, int] = (3, 3)) -> str:
  """How a stride-1 convolution (3x3 unless `kernel` says otherwise) of a
  [batch, height, width, in_channels] input to out_channels is computed on
  `platform`: the one place that chooses (`conv_general_dilated` asks it).

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
    (about 10%) of it;
  - a 1x1 convolution (EfficientNet's expand and project layers) is one
    matrix product ('im2col' of a single copy, the input itself): value and
    both gradients 1.3-3x faster than XLA's convolution for each of Lite0's
    18 shapes at a 96x96 input, batch 16 (20 against 59 ms for 16 -> 96 at
    48x48, 4.4 against 10.8 for 144 -> 24 at 24x24; benchmarks/conv_lowering.py
    --pointwise, 2026-12-01 22:28, benchmarks/results/cpu_pointwise_lowering.json).
  """
  if platform != 'cpu':
    return 'xla'
  if tuple(kernel) == (1, 1):
    return 'im2col'
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
  # As a 2-D product: XLA:CPU's dot with three free dimensions was 1.8x
  # slower (value and both gradients of a 1x1 16 -> 96 at 16 x 48x48, 115
  # against 62 ms, timed beside a training run, so only the ratio counts).
  product = jnp.matmul(columns.reshape(-1, kh * kw * cin), rhs.reshape(kh * kw * cin, cout),
                       precision=precision)
  return product.reshape(*columns.shape[:3], cout)


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


def depthwise_lowering(platform: str) -> str:
  """How a depthwise convolution (one filter per channel, any kernel, stride
  and padding) is computed on `platform`: 'shifted' (`_depthwise_shifted`)
  on a CPU, XLA's grouped convolution elsewhere.

  XLA:CPU's grouped convolution is several times slower than the same sum
  written out with its own gradient (`_depthwise`; value and both gradients,
  Lite0 at a 96x96 input, batch 16, 2 cores, jax 0.10.2, 2026-12-01 22:27;
  benchmarks/conv_lowering.py --depthwise, benchmarks/results/
  cpu_depthwise_lowering.json): 226 against 59 ms for the 3x3 stride-2 layer
  at 48x48x96, 85 against 28 for 3x3 at 48x48x32, 137 against 31 for 3x3 at
  24x24x144, 81 against 14 for 5x5 at 12x12x240, 30 against 7 for 3x3 at
  6x6x480.
  """
  return 'shifted' if platform == 'cpu' else 'xla'


def _depthwise_shifted(lhs, rhs, strides, padding):
  """The depthwise convolution of lhs [b, h, w, c] with rhs [kh, kw, 1, c] as
  kh * kw shifted, strided views of the padded input times one kernel tap
  each, summed: elementwise work that XLA fuses."""
  kh, kw = rhs.shape[:2]
  padded = _padded(lhs, padding)
  height, width = _depthwise_output_size(lhs.shape, rhs.shape, strides, padding)
  out = 0
  for i in range(kh):
    for j in range(kw):
      out = out + _tap(padded, i, j, strides, height, width) * rhs[i, j, 0]
  return out


def _depthwise_output_size(lhs_shape, rhs_shape, strides, padding):
  (top, bottom), (left, right) = padding
  return ((lhs_shape[1] + top + bottom - rhs_shape[0]) // strides[0] + 1,
          (lhs_shape[2] + left + right - rhs_shape[1]) // strides[1] + 1)


def _tap(padded, i: int, j: int, strides, height: int, width: int):
  """The strided view of `padded` that kernel tap (i, j) multiplies."""
  sh, sw = strides
  return padded[:, i:i + sh * (height - 1) + 1:sh, j:j + sw * (width - 1) + 1:sw]


# The batch is cut into pieces of about this many bytes of padded input for
# the kernel's gradient, so that each piece's kh * kw reductions read it from
# the cache. Of 64 KiB, 256 KiB and 1 MiB pieces, 1 MiB was the fastest on
# most of Lite0's layers (value and both gradients at batch 16, timed beside
# a training run on the 2 cores, so compared only with each other:
# 16 x 48x48x32, 3x3: 16.1, 12.6 and 8.3 ms).
_KERNEL_GRADIENT_BYTES = 1 << 20


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _depthwise(lhs, rhs, strides, padding):
  """`_depthwise_shifted` with its own gradients (`_depthwise_bwd`)."""
  return _depthwise_shifted(lhs, rhs, strides, padding)


def _depthwise_fwd(lhs, rhs, strides, padding):
  return _depthwise_shifted(lhs, rhs, strides, padding), (lhs, rhs)


def _depthwise_bwd(strides, padding, residuals, dy):
  """The input's gradient as automatic differentiation gives it (pads of dy,
  which XLA fuses into one pass), the kernel's piece by piece over the batch.

  Differentiated automatically, the kernel's gradient is kh * kw reductions
  of a shifted input times dy over the whole batch: XLA:CPU materialises
  every shifted view before its reduction (YNNPACK's reduce takes no
  slices), and the views outgrow the cache. Here `lax.map` takes the batch a
  piece of about _KERNEL_GRADIENT_BYTES at a time, and the pieces' sums,
  accumulated in float32, are added up: value and both gradients of 16 x
  48x48x32, 3x3, take 28 ms against 44 with the automatic gradient, 31
  against 54 at 24x24x144 (`depthwise_lowering`'s benchmark). Each piece's
  kh * kw sums are one variadic reduction, which XLA's own emitter fuses
  with the views (YNNPACK, which took one reduction per tap, copied each
  view out first): the kernel's gradient alone for one layer of each of
  Lite0's 12 depthwise shapes at batch 16 took 17.6 ms in all against 32.3
  (medians of 20, 2 cores, Intel Xeon, jax 0.10.2, 2026-12-05; 256 KiB,
  2 MiB and 4 MiB pieces 24.7, 19.4 and 23.1 ms, the whole batch 31.0)."""
  lhs, rhs = residuals
  _, lhs_vjp = jax.vjp(lambda x: _depthwise_shifted(x, rhs, strides, padding), lhs)
  (dlhs,) = lhs_vjp(dy)
  kh, kw = rhs.shape[:2]
  batch, height, width = dy.shape[:3]
  (top, bottom), (left, right) = padding
  padded_bytes = ((lhs.shape[1] + top + bottom) * (lhs.shape[2] + left + right)
                  * lhs.shape[3] * lhs.dtype.itemsize)  # One example's.
  piece = max(1, min(batch, _KERNEL_GRADIENT_BYTES // padded_bytes))
  while batch % piece:
    piece -= 1

  def piece_gradient(lhs_and_dy):
    piece_lhs, piece_dy = lhs_and_dy
    padded = _padded(piece_lhs, padding)
    products = tuple((_tap(padded, i, j, strides, height, width) * piece_dy).astype(jnp.float32)
                     for i in range(kh) for j in range(kw))
    # One reduction of all kh * kw products: XLA fuses the views into it and
    # reads the piece once (a reduction per tap went to YNNPACK, which takes
    # no slices, so each view was copied out first).
    sums = lax.reduce(products, (jnp.float32(0),) * len(products),
                      lambda a, b: tuple(x + y for x, y in zip(a, b)), (0, 1, 2))
    return jnp.stack(sums)

  pieces = lambda x: x.reshape(batch // piece, piece, *x.shape[1:])
  taps = jnp.sum(lax.map(piece_gradient, (pieces(lhs), pieces(dy))), axis=0)
  return dlhs, taps.reshape(rhs.shape).astype(rhs.dtype)


_depthwise.defvjp(_depthwise_fwd, _depthwise_bwd)


_NHWC = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1),
                                 out_spec=(0, 3, 1, 2))


def _is_depthwise(lhs, rhs, lhs_dilation, rhs_dilation, dimension_numbers,
                  feature_group_count, batch_group_count, preferred_element_type):
  """Whether a convolution is NHWC depthwise with one filter per channel."""
  return (lhs.ndim == 4 and feature_group_count > 1
          and feature_group_count == lhs.shape[-1] == rhs.shape[-1] and rhs.shape[2] == 1
          and batch_group_count == 1 and preferred_element_type is None
          and all(d == 1 for d in tuple(lhs_dilation or ()) + tuple(rhs_dilation or ()))
          and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) == _NHWC)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None,
                         feature_group_count=1, batch_group_count=1,
                         precision=None, preferred_element_type=None, *,
                         lowering: str | None = None):
  """`lax.conv_general_dilated`, computed the way `conv_lowering` chooses.

  The networks pass it to nn.Conv (`conv_general_dilated=`), which keeps the
  parameters' names, shapes and initialisation. Every lowering computes the
  same function up to float rounding; stride-1, undilated, ungrouped NHWC
  convolutions and NHWC depthwise ones (`depthwise_lowering`) have a choice,
  anything else goes to XLA. The platform is
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
  if _is_depthwise(lhs, rhs, lhs_dilation, rhs_dilation, dimension_numbers,
                   feature_group_count, batch_group_count, preferred_element_type):
    choice = lowering or (_FORCED[-1] if _FORCED else None)
    if choice != 'xla' and depthwise_lowering(jax.default_backend()) == 'shifted':
      if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
      return _depthwise(lhs, rhs, tuple(window_strides), tuple(tuple(p) for p in padding))
  if simple:
    kernel = rhs.shape[:2]
    if isinstance(padding, str):
      padding = lax.padtype_to_pads(lhs.shape[1:3], kernel, (1, 1), padding)
    padding = tuple(tuple(p) for p in padding)
    if lowering is None and _FORCED:
      lowering = _FORCED[-1]
    if lowering is None:
      lowering = conv_lowering(*lhs.shape[1:], rhs.shape[-1], jax.default_backend(),
                               kernel=kernel)
    if lowering == 'winograd' and (kernel != (3, 3) or padding != ((1, 1), (1, 1))):
      lowering = 'im2col'  # F(2x2, 3x3) is for 3x3 kernels that keep the size.
  if not simple or lowering == 'xla':
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
        dimension_numbers, feature_group_count, batch_group_count, precision,
        preferred_element_type)
  return (_im2col if lowering == 'im2col' else _winograd)(lhs, rhs, padding, precision)

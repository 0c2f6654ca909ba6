"""The networks: golden parameter counts, any input size, bf16, lean imports."""

import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorjax import lowering
from colorjax import models
from tests.conftest import REPO


def _param_count(model, size=32):
  variables = jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, size, size, 1)), train=False))
  return sum(x.size for x in jax.tree.leaves(variables['params']))


def test_golden_parameter_counts():
  assert _param_count(models.CNN()) == 3_099_714  # The seed's baseline.
  assert _param_count(models.UNet()) == 31_036_546


def test_cnn_is_the_seed_architecture():
  variables = jax.eval_shape(lambda: models.CNN().init(
      jax.random.key(0), jnp.zeros((1, 8, 8, 1)), train=False))
  kernels = [variables['params'][name]['kernel'].shape
             for name in [f'conv{i}' for i in range(7)] + ['head']]
  widths = [1, 64, 128, 256, 512, 256, 128, 64, 2]
  assert kernels == [(3, 3, a, b) for a, b in zip(widths, widths[1:])]


@pytest.mark.parametrize('height,width', [(17, 23), (32, 32), (5, 64), (1, 1)])
def test_unet_keeps_any_input_size(height, width):
  model = models.UNet(widths=(8, 16, 32), bottleneck=32)
  l = jax.random.uniform(jax.random.key(0), (2, height, width, 1), minval=-1)
  variables = model.init(jax.random.key(1), l, train=False)
  ab = model.apply(variables, l, train=False)
  assert ab.shape == (2, height, width, 2) and ab.dtype == jnp.float32
  assert float(jnp.abs(ab).max()) <= 1.0


@pytest.mark.parametrize('norm', models.NORMS)
def test_unet_batch_of_one_equals_batch_of_four_at_inference(norm):
  model = models.UNet(widths=(8, 16), bottleneck=16, norm=norm)
  l = jax.random.uniform(jax.random.key(0), (4, 24, 24, 1), minval=-1)
  variables = model.init(jax.random.key(1), l, train=False)
  together = model.apply(variables, l, train=False)
  alone = jnp.concatenate([model.apply(variables, l[i:i + 1], train=False)
                           for i in range(4)])
  np.testing.assert_allclose(together, alone, atol=1e-5)


def test_unet_training_mode_updates_batch_stats():
  model = models.UNet(widths=(8,), bottleneck=8)
  l = jax.random.uniform(jax.random.key(0), (2, 8, 8, 1), minval=-1)
  variables = model.init(jax.random.key(1), l, train=False)
  _, updates = model.apply(variables, l, train=True, mutable=['batch_stats'])
  before = jax.tree.leaves(variables['batch_stats'])
  after = jax.tree.leaves(updates['batch_stats'])
  assert any(not np.allclose(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize('model', [models.CNN(channels=(8, 8)),
                                   models.UNet(widths=(8, 16), bottleneck=16)])
def test_bfloat16_computes_in_bf16_with_float32_parameters(model):
  l = jax.random.uniform(jax.random.key(0), (2, 16, 16, 1), minval=-1)
  variables = model.init(jax.random.key(1), l, train=False)
  bf16 = model.clone(dtype=jnp.bfloat16)
  assert {x.dtype for x in jax.tree.leaves(variables['params'])} == {np.dtype('float32')}
  out32 = model.apply(variables, l, train=False)
  out16 = bf16.apply(variables, l, train=False)
  assert out16.dtype == jnp.float32
  # Same function, bf16 rounding: close, but not bit-identical.
  np.testing.assert_allclose(out16, out32, atol=0.05)
  assert not np.array_equal(out16, out32)
  jaxpr = str(jax.make_jaxpr(lambda v: bf16.apply(v, l, train=False))(variables))
  assert 'bf16[2,16,16,8]' in jaxpr


def test_unknown_norm_is_a_clear_error():
  with pytest.raises(ValueError, match='norm must be one of'):
    models.UNet(norm='layer').init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)),
                                   train=False)


def test_importing_models_pulls_in_nothing_beyond_jax_and_flax():
  code = ('import sys, jax, flax.linen, numpy; before = set(sys.modules); '
          'import colorjax.models; '
          'print(sorted(m for m in set(sys.modules) - before '
          'if not m.startswith("colorjax")))')
  out = subprocess.run([sys.executable, '-c', code], cwd=REPO, check=True,
                       capture_output=True, text=True).stdout.strip()
  assert out == '[]', f'import colorjax.models also imported {out}'


@pytest.mark.parametrize('height,width', [(5, 7), (16, 16)])
def test_upsample_is_the_transposed_convolution(height, width):
  x = jax.random.normal(jax.random.key(0), (2, height, width, 6))
  reference = nn.ConvTranspose(4, (2, 2), strides=(2, 2))
  variables = reference.init(jax.random.key(1), x)
  ours = models.Upsample(4)
  # Same parameters, same initial values, same function.
  ours_variables = ours.init(jax.random.key(1), x)
  jax.tree.map(np.testing.assert_array_equal, ours_variables, variables)
  np.testing.assert_allclose(ours.apply(variables, x), reference.apply(variables, x),
                             atol=1e-5)


@pytest.mark.parametrize('use_bias', [True, False])
def test_joined_conv_is_the_convolution_of_the_concatenation(use_bias):
  parts = (jax.random.normal(jax.random.key(0), (2, 7, 9, 5)),
           jax.random.normal(jax.random.key(1), (2, 7, 9, 3)))
  reference = models.Conv(4, (3, 3), use_bias=use_bias)
  joined = jnp.concatenate(parts, -1)
  variables = reference.init(jax.random.key(2), joined)
  ours = models.JoinedConv(4, (3, 3), use_bias=use_bias)
  # Same parameters, same initial values, same function and gradients.
  jax.tree.map(np.testing.assert_array_equal, ours.init(jax.random.key(2), parts), variables)
  loss = lambda f: lambda v, x: jnp.sum(jnp.sin(f(v, x)))
  ours_value, ours_grads = jax.value_and_grad(loss(ours.apply), (0, 1))(variables, parts)
  value, grads = jax.value_and_grad(loss(reference.apply), (0, 1))(variables, joined)
  np.testing.assert_allclose(ours_value, value, rtol=1e-5)
  np.testing.assert_allclose(ours_grads[0]['params']['kernel'], grads[0]['params']['kernel'],
                             atol=1e-4)
  np.testing.assert_allclose(jnp.concatenate(ours_grads[1], -1), grads[1], atol=1e-5)


_NHWC = ('NHWC', 'HWIO', 'NHWC')


@pytest.mark.parametrize('kind', lowering.LOWERINGS)
@pytest.mark.parametrize('shape,kernel,padding', [
    ((2, 7, 9, 5), (3, 3, 5, 4), 'SAME'),  # Odd sizes: Winograd's partial tiles.
    ((2, 8, 8, 6), (3, 3, 6, 3), 'SAME'),
    ((3, 2, 2, 16), (3, 3, 16, 8), 'SAME'),  # Smaller than the kernel.
    ((1, 1, 1, 4), (3, 3, 4, 2), 'SAME'),
    ((2, 6, 5, 3), (1, 1, 3, 4), 'SAME'),  # A 1x1 head.
    ((2, 7, 9, 5), (4, 4, 5, 4), ((1, 1), (1, 1))),  # The PatchGAN's last layers.
    ((2, 7, 9, 5), (3, 3, 5, 4), 'VALID'),
])
def test_every_lowering_computes_the_convolution(kind, shape, kernel, padding):
  """Value and both gradients equal XLA's convolution within 1e-5 (measured:
  up to 4e-6 relative)."""
  x = jax.random.normal(jax.random.key(0), shape)
  w = jax.random.normal(jax.random.key(1), kernel) / np.sqrt(np.prod(kernel[:3]))
  reference = lambda x, w: jax.lax.conv_general_dilated(
      x, w, (1, 1), padding, dimension_numbers=_NHWC)
  ours = lambda x, w: lowering.conv_general_dilated(
      x, w, (1, 1), padding, dimension_numbers=_NHWC, lowering=kind)
  value_and_pullback = lambda f: jax.jit(
      lambda x, w, t: (f(x, w), jax.vjp(f, x, w)[1](t)))
  cotangent = jax.random.normal(jax.random.key(2), jax.eval_shape(reference, x, w).shape)
  expected, expected_grads = value_and_pullback(reference)(x, w, cotangent)
  got, grads = value_and_pullback(ours)(x, w, cotangent)
  assert got.shape == expected.shape
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * float(jnp.max(jnp.abs(expected))))
  for a, b in zip(grads, expected_grads):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * float(jnp.max(jnp.abs(b))))


def test_the_lowering_rule():
  for platform in ('gpu', 'tpu'):  # cuDNN's and the TPU's own convolutions.
    assert lowering.conv_lowering(2, 2, 1024, 1024, platform) == 'xla'
    assert lowering.conv_lowering(32, 32, 256, 512, platform) == 'xla'
    assert lowering.conv_lowering(48, 48, 16, 96, platform, kernel=(1, 1)) == 'xla'
  assert lowering.conv_lowering(2, 2, 512, 1024, 'cpu') == 'im2col'
  # A 1x1 convolution on the CPU is one matrix product, at every size.
  assert lowering.conv_lowering(48, 48, 16, 96, 'cpu', kernel=(1, 1)) == 'im2col'
  assert lowering.conv_lowering(3, 3, 1152, 320, 'cpu', kernel=(1, 1)) == 'im2col'
  assert lowering.conv_lowering(1, 7, 8, 8, 'cpu') == 'im2col'
  assert lowering.conv_lowering(32, 32, 256, 512, 'cpu') == 'winograd'
  assert lowering.conv_lowering(64, 64, 16, 16, 'cpu') == 'xla'
  assert lowering.conv_lowering(16, 16, 256, 256, 'cpu') == 'xla'
  with pytest.raises(ValueError, match='lowering must be one of'):
    with lowering.forced_lowering('fft'):
      pass


def _conv_count(model, variables, l):
  jaxpr = jax.make_jaxpr(lambda v: model.apply(v, l, train=False))(variables)
  return str(jaxpr).count('conv_general_dilated')


@pytest.mark.parametrize('model,size', [
    (models.CNN(channels=(128, 128)), 32),  # 128 -> 128 at 32x32: Winograd.
    (models.UNet(widths=(8, 16, 32), bottleneck=32), 16),  # 2x2 bottleneck: im2col.
])
def test_networks_compute_the_same_function_whatever_the_lowering(model, size):
  """The same parameters (names, shapes, initial values) and, within 1e-5,
  the same outputs and gradients as with XLA's convolution everywhere
  (measured: up to 2.4e-6)."""
  l = jax.random.uniform(jax.random.key(1), (4, size, size, 1), minval=-1)
  ab = jax.random.uniform(jax.random.key(2), (4, size, size, 2), minval=-0.5, maxval=0.5)

  def run():  # Traced inside forced_lowering where the test asks for it.
    variables = jax.jit(lambda key: model.init(key, l, train=False))(jax.random.key(0))
    def loss(params):
      out, _ = model.apply({**variables, 'params': params}, l, train=True,
                           mutable=['batch_stats'])
      return jnp.mean(jnp.square(out - ab)), out
    (_, out), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(variables['params'])
    return variables, out, grads, _conv_count(model, variables, l)

  with lowering.forced_lowering('xla'):
    plain = run()
  chosen = run() if jax.default_backend() == 'cpu' else plain
  jax.tree.map(np.testing.assert_array_equal, chosen[0], plain[0])
  if jax.default_backend() == 'cpu':
    assert chosen[3] < plain[3]  # Some layers really took another lowering.
  np.testing.assert_allclose(chosen[1], plain[1], rtol=0, atol=1e-5)
  for a, b in zip(jax.tree.leaves(chosen[2]), jax.tree.leaves(plain[2])):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * float(jnp.max(jnp.abs(b))))


def test_max_pool_is_flax_max_pool():
  x = jax.random.normal(jax.random.key(0), (2, 6, 8, 3))  # No ties.
  expected, pullback = jax.vjp(lambda x: nn.max_pool(x, (2, 2), strides=(2, 2)), x)
  got, our_pullback = jax.vjp(models.max_pool_2x2, x)
  np.testing.assert_array_equal(got, expected)
  cotangent = jax.random.normal(jax.random.key(1), expected.shape)
  np.testing.assert_array_equal(our_pullback(cotangent)[0], pullback(cotangent)[0])

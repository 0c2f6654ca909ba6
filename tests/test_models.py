"""The networks: golden parameter counts, any input size, bf16, lean imports."""

import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

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

"""EfficientNet-Lite with its ImageNet weights: torch's logits without torch,
the gray photos still recognised, the torch-free reader, the conversion
command, and the depthwise lowering."""

import os
import pickle
import subprocess
import sys

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import pytest

from colorjax import color
from colorjax import efficientnet
from colorjax import lowering
from colorjax import models
from tests.conftest import REPO

# Recorded by benchmarks/efficientnet_golden.py: an independent PyTorch network
# given each PyPI state dict by torch.load, on scikit-image's photos.
GOLDEN = np.load(os.path.join(os.path.dirname(__file__), 'data', 'efficientnet_golden.npz'))
PHOTOS = {'chelsea': (281, 282, 285), 'coffee': (967,), 'rocket': (657,)}  # Cats, espresso, missile.


@pytest.fixture(scope='module', params=['lite0', 'lite2'])
def network(request):
  variant = request.param
  model = efficientnet.EfficientNetLite(variant)
  variables = efficientnet.pretrained_variables(variant)
  return variant, jax.jit(lambda x: model.apply(variables, x, train=False))


def test_logits_are_the_reference_networks(network):
  # Measured 2026-12-01: at most 1.1e-5 apart (float32, logits within
  # -4 .. 11.4); 1e-3 is far below the gap between the two top classes
  # (0.40 .. 2.2), so the classes cannot differ.
  variant, apply = network
  for name in PHOTOS:
    rgb = GOLDEN[f'{variant}/{name}/rgb']
    logits = apply(efficientnet.scaled(jnp.asarray(rgb))[None])[0]
    np.testing.assert_allclose(logits, GOLDEN[f'{variant}/{name}/logits'], atol=1e-3)


def test_gray_photos_keep_their_class(network):
  """From the lightness alone, as the colorization U-Net feeds the encoder."""
  variant, apply = network
  for name, classes in PHOTOS.items():
    rgb = GOLDEN[f'{variant}/{name}/rgb']
    l, _ = color.normalize(color.rgb_to_lab(jnp.asarray(rgb)))
    logits = apply(models.encoder_input(l)[None])[0]
    assert int(jnp.argmax(logits)) in classes, (variant, name)
    np.testing.assert_allclose(logits, GOLDEN[f'{variant}/{name}/gray_logits'], atol=1e-2)


@pytest.mark.parametrize('variant,count,channels', [
    ('lite0', 4_652_008, (16, 24, 40, 112, 320)),
    ('lite2', 6_092_072, (16, 24, 48, 120, 352))])
def test_golden_parameter_counts_and_feature_maps(variant, count, channels):
  model = efficientnet.EfficientNetLite(variant)
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)),
                                                train=False))
  assert efficientnet.parameter_count(variables) == count
  encoder = efficientnet.EfficientNetLite(variant, num_classes=0)
  features = jax.eval_shape(lambda: encoder.init_with_output(
      jax.random.key(0), jnp.zeros((2, 96, 160, 3)), train=False))[0]
  assert [f.shape for f in features] == [
      (2, 96 // s, 160 // s, c) for s, c in zip((2, 4, 8, 16, 32), channels)]
  assert efficientnet.feature_channels(variant) == channels


def test_the_reader_takes_no_other_pickle(tmp_path):
  path = tmp_path / 'evil.pth'
  with open(path, 'wb') as f:
    for header in (0x1950a86a20f9469cfc6c, 1001, {}):
      pickle.dump(header, f)
    pickle.dump(os.system, f)  # Anything but a state dict's classes is refused.
  with pytest.raises(pickle.UnpicklingError, match='holds no'):
    efficientnet.read_state_dict(str(path))


def test_a_state_dict_of_another_variant_is_refused():
  state = efficientnet.read_state_dict(efficientnet.package_weights('lite0'))
  with pytest.raises(ValueError, match='EfficientNet-lite2'):
    efficientnet.convert(state, 'lite2')


def test_the_conversion_command_writes_the_weights_and_their_licence(tmp_path):
  out = tmp_path / 'weights' / 'lite0.npz'
  subprocess.run([sys.executable, '-m', 'colorjax.efficientnet', '--variant=lite0',
                  f'--out={out}'], cwd=REPO, check=True, capture_output=True)
  assert 'Apache License, Version 2.0' in (tmp_path / 'weights' / 'NOTICE').read_text()
  converted = efficientnet.pretrained_variables('lite0', str(out))
  direct = efficientnet.pretrained_variables('lite0')
  assert jax.tree.structure(converted) == jax.tree.structure(direct)
  assert all(np.array_equal(a, b) for a, b in
             zip(jax.tree.leaves(converted), jax.tree.leaves(direct)))


@pytest.mark.parametrize('shape,kernel,stride', [
    ((2, 9, 12, 5), 3, 1), ((2, 9, 12, 5), 3, 2), ((1, 16, 16, 8), 5, 2),
    ((2, 7, 5, 3), 5, 1), ((1, 2, 2, 4), 3, 1),
    # Batches of several pieces for the kernel's gradient (_KERNEL_GRADIENT_BYTES).
    ((6, 40, 40, 40), 3, 1), ((6, 40, 40, 40), 3, 2)])
def test_the_depthwise_lowering_is_xlas_grouped_convolution(shape, kernel, stride):
  x = jax.random.normal(jax.random.key(0), shape)
  k = jax.random.normal(jax.random.key(1), (kernel, kernel, 1, shape[-1]))

  dims = ('NHWC', 'HWIO', 'NHWC')
  ours = lambda x, k: lowering.conv_general_dilated(
      x, k, (stride, stride), 'SAME', dimension_numbers=dims, feature_group_count=shape[-1])
  xla = lambda x, k: lax.conv_general_dilated(
      x, k, (stride, stride), 'SAME', dimension_numbers=dims, feature_group_count=shape[-1])
  # On the CPU colorjax's rule writes the depthwise convolution out.
  assert 'conv_general_dilated' not in str(jax.make_jaxpr(ours)(x, k))
  value_and_grads = lambda f: lambda x, k: (f(x, k), *jax.grad(
      lambda x, k: jnp.sum(jnp.sin(f(x, k))), argnums=(0, 1))(x, k))
  with jax.enable_x64(True):  # The reference: XLA's convolution in float64, kept as NumPy.
    reference = [np.asarray(r) for r in
                 value_and_grads(xla)(np.asarray(x, np.float64), np.asarray(k, np.float64))]
  for a, b in zip(value_and_grads(ours)(x, k), reference):
    # float32 against float64, relative to the largest entry: the kernel's
    # gradient sums up to 6 x 40 x 40 products of size up to about 10.
    assert a.dtype == jnp.float32 and b.dtype == np.float64
    assert np.max(np.abs(np.asarray(a, np.float64) - b)) <= 1e-5 * np.max(np.abs(b))
  assert lowering.depthwise_lowering('cpu') == 'shifted'
  assert lowering.depthwise_lowering('gpu') == 'xla'

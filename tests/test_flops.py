"""The benchmarks' analytic FLOP counter against the anchors' figures."""

import os
import sys

import jax
import jax.numpy as jnp
import pytest

from colorjax import models
from tests.conftest import REPO

sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
import flops  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.mark.parametrize('model,size,gflop', [
    (models.UNet(), 256, 96.2), (models.UNet(), 32, 1.50),
    (models.CNN(), 256, 406.1), (models.CNN(), 32, 6.35)])
def test_forward_flops_match_the_anchors(model, size, gflop):
  variables = jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, 32, 32, 1)), train=False))
  # The anchors give 3 significant figures.
  assert flops.forward_flops(model, variables, size, size) / 1e9 == pytest.approx(gflop, rel=5e-3)


def test_flops_scale_with_the_batch():
  model = models.CNN(channels=(8,))
  variables = jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, 8, 8, 1)), train=False))
  one = flops.forward_flops(model, variables, 10, 10)
  assert one == 2 * 100 * 9 * (1 * 8 + 8 * 2)
  assert flops.forward_flops(model, variables, 10, 10, batch=3) == 3 * one

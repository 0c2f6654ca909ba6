"""benchmarks/decoding_frontier.py: its base decodings are colorjax's, and
its chroma share does what it says."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorjax import classification
from colorjax import tasks
from tests.conftest import REPO

sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
import decoding_frontier  # pylint: disable=g-import-not-at-top,wrong-import-position


def _config():
  bins = classification.ab_bins()
  weights = np.random.default_rng(1).uniform(0.2, 3.0, len(bins))
  return {'model': {'name': 'unet', 'head': 'classification', 'widths': [4, 8],
                    'bottleneck': 8, 'norm': 'batch'},
          'classification': {'temperature': 0.38, 'class_weights': list(weights)}}


@pytest.mark.parametrize('adjustment,temperature,confidence,saturation',
                         [(0.0, 0.38, 0.0, 1.0), (0.8, 0.8, 4.0, 1.0), (1.0, 0.6, 0.0, 1.3)])
def test_base_and_saturation_rows_decode_as_colorjax_does(adjustment, temperature, confidence,
                                                           saturation):
  config = _config()
  logits = 3 * jax.random.normal(jax.random.key(0), (2, 5, 5, classification.num_bins()))
  setting = {'adjustment': adjustment, 'temperature': temperature, 'confidence': confidence,
             'chroma': 0.0, 'saturation': saturation, 'flip': False}
  ours = decoding_frontier.Decodings(config, [setting]).decode(logits, setting)
  theirs = tasks.of(config).decoder(config, adjustment=adjustment, temperature=temperature,
                                    confidence=confidence, saturation=saturation)(logits)
  np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_chroma_share_moves_the_mean_to_the_expected_chroma_along_its_hue():
  bins = jnp.asarray(classification.ab_bins(), jnp.float32)
  far = jnp.argmax(jnp.linalg.norm(bins, axis=-1))  # A saturated bin...
  gray = jnp.argmin(jnp.linalg.norm(bins, axis=-1))  # ...and the gray one.
  p = jnp.zeros(len(bins)).at[far].set(0.5).at[gray].set(0.5)
  mean = decoding_frontier.hue_chroma_mean(p, bins, 0.0)
  full = decoding_frontier.hue_chroma_mean(p, bins, 1.0)
  half = decoding_frontier.hue_chroma_mean(p, bins, 0.5)
  np.testing.assert_allclose(mean, p @ bins, atol=1e-5)
  expected = 0.5 * (jnp.linalg.norm(bins[far]) + jnp.linalg.norm(bins[gray]))
  # The hue is kept; the chroma is the expected one, up to the length guard
  # sqrt(|m|^2 + 1) (a relative 1 / (2 |m|^2), |m| being tens of LAB units).
  cosine = jnp.dot(full, mean) / (jnp.linalg.norm(full) * jnp.linalg.norm(mean))
  assert float(cosine) == pytest.approx(1.0, abs=1e-6)
  assert float(jnp.linalg.norm(full)) == pytest.approx(float(expected), rel=1e-3)
  np.testing.assert_allclose(half, 0.5 * (mean + full), atol=1e-4)

"""colorjax.color against scikit-image's rgb2lab / lab2rgb."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.color
import skimage.data

from colorjax import color


def test_rgb_to_lab_matches_skimage_on_random_colours():
  rgb = np.random.default_rng(0).integers(0, 256, (200_000, 3), dtype=np.uint8)
  expected = skimage.color.rgb2lab(rgb[None])[0]
  got = np.asarray(jax.jit(color.rgb_to_lab)(rgb))
  np.testing.assert_allclose(got, expected, atol=1e-3, rtol=0)


def test_rgb_to_lab_covers_the_cube_corners_and_grays():
  corners = np.array([[r, g, b] for r in (0, 255) for g in (0, 255)
                      for b in (0, 255)], np.uint8)
  grays = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
  rgb = np.concatenate([corners, grays])
  np.testing.assert_allclose(color.rgb_to_lab(rgb),
                             skimage.color.rgb2lab(rgb[None])[0], atol=1e-3)


@pytest.mark.parametrize('photo', ['astronaut', 'coffee', 'chelsea'])
def test_round_trip_matches_skimage_on_photos(photo):
  rgb = getattr(skimage.data, photo)()
  lab_expected = skimage.color.rgb2lab(rgb)
  lab = color.rgb_to_lab(rgb)
  np.testing.assert_allclose(lab, lab_expected, atol=1e-3)
  np.testing.assert_allclose(color.lab_to_rgb(lab),
                             skimage.color.lab2rgb(lab_expected), atol=1e-4)
  np.testing.assert_allclose(color.lab_to_rgb(lab) * 255, rgb, atol=0.01)


@pytest.mark.filterwarnings('ignore:Conversion from CIE-LAB')
def test_lab_to_rgb_matches_skimage_and_clips_out_of_gamut():
  lab = np.random.default_rng(1).uniform([0, -128, -128], [100, 127, 127],
                                         (100_000, 3))
  expected = skimage.color.lab2rgb(lab[None])[0]
  got = np.asarray(jax.jit(color.lab_to_rgb)(lab.astype(np.float32)))
  np.testing.assert_allclose(got, expected, atol=1e-3)
  assert got.min() == 0.0 and got.max() == 1.0  # Many of these are out of gamut.


def test_float_input_equals_uint8_input():
  # uint8 levels are decoded by a table computed in float64, floats by
  # float32 powers: they differ by float32 rounding (at most 6.1e-5 on
  # these, 2026-12-05), far below a level's step (about 0.1 in L).
  rgb = np.random.default_rng(2).integers(0, 256, (1000, 3), dtype=np.uint8)
  np.testing.assert_allclose(color.rgb_to_lab(rgb),
                             color.rgb_to_lab(rgb.astype(np.float32) / 255),
                             atol=5e-4)


def test_uint8_input_takes_every_level_as_float64_does():
  levels = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
  levels = np.concatenate([levels, np.roll(levels, 85, axis=0), np.roll(levels, 170, axis=0)], 1)
  rgb = levels.reshape(256, 3, 3)
  expected = skimage.color.rgb2lab(rgb.astype(np.float64) / 255)
  np.testing.assert_allclose(color.rgb_to_lab(rgb), expected, atol=3e-4)


def test_gradients_are_finite_everywhere():
  rgb = jnp.concatenate([jnp.zeros((1, 3)), jnp.ones((1, 3)),
                         jax.random.uniform(jax.random.key(0), (500, 3))])
  round_trip = lambda x: jnp.sum(color.lab_to_rgb(color.rgb_to_lab(x)) ** 2)
  grads = jax.grad(round_trip)(rgb)
  assert np.all(np.isfinite(grads))
  # Away from the clipped edges the round trip is the identity: d/dx x^2 = 2x.
  np.testing.assert_allclose(grads[2:], 2 * rgb[2:], atol=2e-3)


def test_normalize_ranges_and_round_trip():
  rgb = np.random.default_rng(3).integers(0, 256, (5000, 3), dtype=np.uint8)
  lab = color.rgb_to_lab(rgb)
  l, ab = color.normalize(lab)
  assert l.shape == (5000, 1) and ab.shape == (5000, 2)
  assert -1 <= float(l.min()) and float(l.max()) <= 1
  assert -1 <= float(ab.min()) and float(ab.max()) <= 1
  np.testing.assert_allclose(color.denormalize(l, ab), lab, atol=1e-4)


def test_fit_chroma_keeps_lightness_and_lands_in_gamut():
  rng = np.random.default_rng(4)
  lab = rng.uniform([0, -128, -128], [100, 127, 127], (20_000, 3)).astype(np.float32)
  fitted = np.asarray(color.fit_chroma(lab))
  np.testing.assert_array_equal(fitted[:, 0], lab[:, 0])
  scale = np.linalg.norm(fitted[:, 1:], axis=1) / np.linalg.norm(lab[:, 1:], axis=1)
  assert np.all(scale <= 1 + 1e-6)
  # In gamut: converting and clipping changes nothing, so L survives a round trip.
  round_trip = np.asarray(color.rgb_to_lab(color.lab_to_rgb(fitted)))
  np.testing.assert_allclose(round_trip[:, 0], lab[:, 0], atol=0.05)
  # Colours already in gamut are left alone.
  inside = np.asarray(color.rgb_to_lab(rng.integers(0, 256, (1000, 3), dtype=np.uint8)))
  np.testing.assert_allclose(color.fit_chroma(inside), inside, atol=1e-4)

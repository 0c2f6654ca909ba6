"""The classification head: bins, soft targets, rebalancing, annealed mean, prior."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.color
import skimage.data

from colorjax import classification
from colorjax import inference
from colorjax import models


def _occupied_cells(rgb_uint8):
  """Grid-10 cells that colours fall in, by scikit-image's LAB (the reference)."""
  lab = skimage.color.rgb2lab(rgb_uint8.reshape(-1, 1, 3)).reshape(-1, 3)
  return set(map(tuple, np.round(lab[:, 1:] / 10).astype(int) * 10))


def test_bins_are_the_grid_points_that_srgb_colours_reach():
  bins = classification.ab_bins()
  assert bins.shape == (261, 2) and classification.num_bins() == 261
  ours = set(map(tuple, bins.astype(int)))
  # Every 8-bit colour's cell is a bin: a lattice through the whole cube...
  v = np.append(np.arange(0, 256, 3), 255).astype(np.uint8)
  cube = np.stack(np.meshgrid(v, v, v, indexing='ij'), -1)
  assert _occupied_cells(cube) <= ours
  # ...and every bin holds colours: the cube's surface (which reaches every
  # ab the solid reaches) at full 8-bit resolution, converted by scikit-image.
  assert _occupied_cells(classification._rgb_cube_surface()) == ours
  # In gamut: each bin centre is within half a cell of a real colour.
  np.testing.assert_array_equal(bins % 10, 0)
  assert bins[:, 0].min() == -90 and bins[:, 0].max() == 100
  assert bins[:, 1].min() == -110 and bins[:, 1].max() == 90


def test_soft_encoding_weights_nearest_bins_by_a_gaussian_and_sums_to_one():
  bins = classification.ab_bins()
  # (3, -7) has a tie for 5th place: (-10, -10) and (0, -20) are both
  # sqrt(178) away, and either may be chosen.
  ab = jnp.array([[3.0, -7.0], [0.0, 0.0], [55.5, 12.25], [-86.2, 83.0]])
  indices, weights = classification.soft_encode(ab, bins, neighbours=5, sigma=5.0)
  np.testing.assert_allclose(np.sum(weights, -1), 1.0, atol=1e-6)
  distances = np.linalg.norm(np.asarray(ab)[:, None] - bins, axis=-1)
  for i in range(len(ab)):
    # Five different bins, as near as the five nearest (whichever wins a tie).
    assert len(set(np.asarray(indices[i]).tolist())) == 5
    np.testing.assert_allclose(np.sort(distances[i][indices[i]]),
                               np.sort(distances[i])[:5], rtol=1e-6)
    expected = np.exp(-distances[i][indices[i]] ** 2 / 50.0)
    np.testing.assert_allclose(weights[i], expected / expected.sum(), rtol=1e-5)
  assert np.all(np.diff(weights, axis=-1) <= 1e-7)  # Nearest first.
  assert int(indices[1, 0]) == int(np.argmin(distances[1]))  # (0, 0) is a bin.
  target = classification.dense(indices, weights, len(bins))
  assert target.shape == (4, 261)
  np.testing.assert_allclose(np.sum(target, -1), 1.0, atol=1e-6)


def test_rebalancing_weights_have_expectation_one_and_favour_rare_colours():
  bins = classification.ab_bins()
  rng = np.random.default_rng(0)
  counts = rng.gamma(0.3, size=len(bins)) * 1000
  counts[np.argmin(np.linalg.norm(bins, axis=-1))] = 1e6  # Gray dominates.
  weights = classification.rebalance_weights(counts, bins, mix=0.5, sigma=5.0)
  smoothed = classification.smooth(counts / counts.sum(), bins, sigma=5.0)
  np.testing.assert_allclose(np.sum(smoothed * weights), 1.0, rtol=1e-6)
  assert weights[np.argmax(smoothed)] == weights.min()
  assert weights[np.argmin(smoothed)] == weights.max()
  # mix = 1 is the uniform distribution: no rebalancing.
  np.testing.assert_allclose(
      classification.rebalance_weights(counts, bins, mix=1.0), 1.0, rtol=1e-6)
  # Smoothing keeps the total and spreads a lone bin's mass to its neighbours.
  lone = np.zeros(len(bins))
  lone[100] = 1
  spread = classification.smooth(lone, bins, sigma=5.0)
  assert spread.sum() == pytest.approx(1.0) and 0.4 < spread[100] < 1
  neighbours = np.linalg.norm(bins - bins[100], axis=-1) == 10
  np.testing.assert_allclose(spread[neighbours], spread[100] * np.exp(-2), rtol=1e-6)


def test_annealed_mean_is_the_mean_at_t1_and_the_mode_as_t_goes_to_0():
  bins = classification.ab_bins()
  logits = jax.random.normal(jax.random.key(0), (3, 4, len(bins))) * 3
  p = jax.nn.softmax(logits, axis=-1)
  np.testing.assert_allclose(classification.annealed_mean(logits, bins, 1.0),
                             p @ bins, rtol=1e-5, atol=1e-4)
  mode = bins[np.argmax(logits, axis=-1)]
  np.testing.assert_allclose(classification.annealed_mean(logits, bins, 0.0), mode)
  np.testing.assert_allclose(classification.annealed_mean(logits, bins, 1e-3),
                             mode, atol=1e-3)
  # In between: more saturated than the mean, on average.
  chroma = lambda ab: float(jnp.mean(jnp.linalg.norm(ab, axis=-1)))
  assert (chroma(classification.annealed_mean(logits, bins, 0.38))
          > chroma(classification.annealed_mean(logits, bins, 1.0)))


def test_rebalanced_cross_entropy_matches_the_dense_formula():
  bins = classification.ab_bins()
  key_logits, key_ab = jax.random.split(jax.random.key(1))
  logits = jax.random.normal(key_logits, (2, 3, 5, len(bins)))
  ab = jax.random.uniform(key_ab, (2, 3, 5, 2), minval=-60, maxval=60)
  class_weights = np.linspace(0.5, 2.0, len(bins)).astype(np.float32)
  loss = classification.rebalanced_cross_entropy(logits, ab, bins, class_weights)
  indices, weights = classification.soft_encode(ab, bins)
  target = classification.dense(indices, weights, len(bins))
  cross_entropy = -np.sum(target * jax.nn.log_softmax(logits), axis=-1)
  nearest = np.argmin(np.linalg.norm(np.asarray(ab)[..., None, :] - bins, axis=-1), -1)
  expected = np.mean(class_weights[nearest] * cross_entropy)
  assert float(loss) == pytest.approx(float(expected), rel=1e-5)
  # The written-out gradient is the dense formula's, in float64.
  with jax.enable_x64():
    logits64 = jnp.asarray(np.asarray(logits), jnp.float64)
    dense_loss = lambda z: jnp.mean(jnp.asarray(class_weights[nearest], jnp.float64)
                                    * -jnp.sum(target * jax.nn.log_softmax(z), axis=-1))
    expected_gradient = np.asarray(jax.grad(dense_loss)(logits64))
  gradient = jax.grad(classification.rebalanced_cross_entropy)(logits, ab, bins, class_weights)
  assert gradient.dtype == jnp.float32
  np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-4,
                             atol=1e-5 * np.abs(expected_gradient).max())
  # The logits of the target distribution itself minimise the loss.
  best = classification.rebalanced_cross_entropy(
      jnp.log(target + 1e-12), ab, bins, np.ones(len(bins)))
  assert float(best) < float(classification.rebalanced_cross_entropy(
      logits, ab, bins, np.ones(len(bins))))


def test_prior_counts_every_pixel_in_its_nearest_bin():
  bins = classification.ab_bins()
  red = np.zeros((30, 20, 3), np.uint8)
  red[..., 0] = 255
  gray = np.full((7, 9, 3), 128, np.uint8)
  counts = classification.compute_prior([red, gray, red], bins, chunk=256)
  assert counts.sum() == 2 * 600 + 63
  lab_red = skimage.color.rgb2lab(red[:1, :1])[0, 0]
  red_bin = np.argmin(np.linalg.norm(bins - lab_red[1:], axis=-1))
  gray_bin = np.argmin(np.linalg.norm(bins, axis=-1))
  assert counts[red_bin] == 1200 and counts[gray_bin] == 63


def test_prior_files_round_trip_and_refuse_other_bins(tmp_path):
  bins = classification.ab_bins()
  counts = np.arange(len(bins), dtype=np.float64)
  path = str(tmp_path / 'prior.npz')
  classification.save_prior(path, counts, bins, images=3, source='test')
  np.testing.assert_array_equal(classification.load_prior(path, bins), counts)
  with pytest.raises(ValueError, match='recompute it with python -m colorjax.prior'):
    classification.load_prior(path, bins[:-1])


@pytest.mark.parametrize('model', [
    models.CNN(channels=(4, 4), num_logits=261),
    models.UNet(widths=(4, 8), bottleneck=8, num_logits=261)])
def test_networks_have_a_head_of_q_logits(model):
  l = jnp.zeros((2, 12, 20, 1))
  variables = model.init(jax.random.key(0), l, train=False)
  logits = model.apply(variables, l, train=False)
  assert logits.shape == (2, 12, 20, 261) and logits.dtype == jnp.float32
  decoded = classification.Decoded(model, classification.ab_bins(), 0.38)
  ab = decoded.apply(variables, l)
  assert ab.shape == (2, 12, 20, 2) and float(jnp.max(jnp.abs(ab))) <= 110 / 128


class _FixedLogits:
  """A stand-in network whose logits are given."""

  def __init__(self, logits):
    self.logits = logits

  def apply(self, variables, l, train=False):
    del variables, l, train
    return self.logits


def test_logit_adjustment_takes_back_the_rebalancing_bias():
  bins = classification.ab_bins()
  rng = np.random.default_rng(3)
  log_p = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(4, 261)) * 2, jnp.float32))
  weights = rng.uniform(0.2, 5.0, 261).astype(np.float32)
  biased = log_p + np.log(weights)  # What rebalanced training learns to output.
  decode = lambda adjustment, t=1.0: classification.Decoded(
      _FixedLogits(biased), bins, t, adjustment=adjustment,
      class_weights=weights).apply({}, None) * 128
  # 0 keeps the paper's decoding; 1 recovers the unweighted posterior's mean.
  np.testing.assert_allclose(decode(0.0), classification.annealed_mean(biased, bins, 1.0),
                             rtol=1e-5, atol=1e-3)
  np.testing.assert_allclose(decode(1.0), classification.annealed_mean(log_p, bins, 1.0),
                             rtol=1e-5, atol=1e-3)
  np.testing.assert_allclose(
      decode(0.3, 0.38),
      classification.annealed_mean(biased - 0.3 * np.log(weights), bins, 0.38),
      rtol=1e-5, atol=1e-3)
  with pytest.raises(ValueError, match='does not store them'):
    classification.Decoded(_FixedLogits(biased), bins, 0.38, adjustment=0.2)
  with pytest.raises(ValueError, match='temperature must be 0 or more'):
    classification.Decoded(_FixedLogits(biased), bins, -1.0)


def test_confidence_keeps_the_vivid_colour_where_the_network_is_sure():
  bins = classification.ab_bins()
  rng = np.random.default_rng(4)
  logits = rng.normal(size=(6, 261)) * 2
  logits[0, 17] += 40.0  # Sure of one bin: max p is about 1.
  logits[1] = 0.0  # Knows nothing: max p = 1 / 261.
  weights = rng.uniform(0.2, 5.0, 261)
  decode = lambda confidence: np.asarray(classification.Decoded(
      _FixedLogits(jnp.asarray(logits, jnp.float32)), bins, 0.2, adjustment=0.5,
      class_weights=weights.astype(np.float32), confidence=confidence).apply({}, None)) * 128
  # A float64 reference of the rule: weight min(1, k * max p) on the annealed
  # mean at T = 0.2, the rest on the mean, of the adjusted distribution.
  adjusted = logits - 0.5 * np.log(weights)
  softmax = lambda x: np.exp(x - x.max(-1, keepdims=True)) / np.exp(
      x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)
  p = softmax(adjusted)
  vivid, mean = softmax(adjusted / 0.2) @ bins, p @ bins
  for k in (0.5, 3.0, 40.0):
    weight = np.minimum(1.0, k * p.max(-1, keepdims=True))
    np.testing.assert_allclose(decode(k), weight * vivid + (1 - weight) * mean, atol=1e-2)
  np.testing.assert_allclose(decode(0.0), vivid, atol=1e-2)  # 0: off.
  np.testing.assert_allclose(decode(3.0)[0], vivid[0], atol=1e-2)  # Sure: vivid.
  assert np.abs(decode(3.0)[1] - mean[1]).max() < np.abs(vivid[1] - mean[1]).max() / 10
  with pytest.raises(ValueError, match='confidence must be 0 .off. or more'):
    classification.Decoded(_FixedLogits(logits), bins, 0.38, confidence=-1.0)


def test_scene_gate_fades_photos_the_network_expects_nearly_neutral():
  bins = classification.ab_bins()
  rng = np.random.default_rng(5)
  logits = rng.normal(size=(3, 4, 5, 261))
  logits[0, ..., int(np.argmin(np.linalg.norm(bins, axis=-1)))] += 8.0  # Faint mean colours.
  logits[1, ..., int(np.argmax(bins[:, 0]))] += 30.0  # Sure of a vivid red.
  weights = rng.uniform(0.2, 5.0, 261)
  decode = lambda scene_chroma: np.asarray(classification.Decoded(
      _FixedLogits(jnp.asarray(logits, jnp.float32)), bins, 0.38, adjustment=0.5,
      class_weights=weights.astype(np.float32), scene_chroma=scene_chroma).apply({}, None)) * 128
  # A float64 reference: each photo's share min(1, m / c), m the mean chroma of
  # its pixels' mean colours under the adjusted distribution.
  adjusted = logits - 0.5 * np.log(weights)
  p = np.exp(adjusted - adjusted.max(-1, keepdims=True))
  p /= p.sum(-1, keepdims=True)
  m = np.linalg.norm(p @ bins, axis=-1).mean(axis=(1, 2))
  assert m[0] < 5 and m[1] > 40  # The photos the test means to build.
  ungated = decode(0.0)
  for c in (2.0, 10.0, 30.0):
    share = np.minimum(1.0, m / c)[:, None, None, None]
    np.testing.assert_allclose(decode(c), share * ungated, atol=1e-2)
  np.testing.assert_allclose(decode(10.0)[1], ungated[1], atol=1e-2)  # Vivid: kept.
  assert np.abs(decode(10.0)[0]).max() < 0.5 * np.abs(ungated[0]).max()  # Faint: fades.
  with pytest.raises(ValueError, match='scene chroma must be 0 .off. or more'):
    classification.Decoded(_FixedLogits(logits), bins, 0.38, scene_chroma=-1.0)
  with pytest.raises(ValueError, match='needs logits'):
    classification.scene_gate(jnp.zeros((4, 261)), bins, 10.0)


def test_scene_chroma_loss_charges_a_photos_colour_against_its_truths():
  bins = classification.ab_bins()
  rng = np.random.default_rng(7)
  logits = rng.normal(size=(3, 4, 5, len(bins))) * 3
  ab = rng.uniform(-50, 50, size=(3, 4, 5, 2))
  weights = rng.uniform(0.2, 5.0, len(bins))
  # A float64 reference: the unweighted posterior's mean colours, their chroma
  # averaged over each photo, against the true colours' mean chroma.
  adjusted = logits - np.log(weights)
  p = np.exp(adjusted - adjusted.max(-1, keepdims=True))
  p /= p.sum(-1, keepdims=True)
  m = np.linalg.norm(p @ bins, axis=-1).mean(axis=(1, 2))
  t = np.linalg.norm(ab, axis=-1).mean(axis=(1, 2))
  loss = classification.scene_chroma_loss(jnp.asarray(logits, jnp.float32),
                                          jnp.asarray(ab, jnp.float32), bins,
                                          weights.astype(np.float32))
  assert float(loss) == pytest.approx(float(np.mean((m - t) ** 2)), rel=1e-4)
  # Sure of a vivid red: no charge on a red photo, its chroma squared on a gray one.
  red = int(np.argmax(bins[:, 0]))
  sure = np.zeros((1, 4, 5, len(bins)), np.float32)
  sure[..., red] = 60.0
  truth = np.broadcast_to(bins[red], (1, 4, 5, 2)).astype(np.float32)
  chroma = float(np.linalg.norm(bins[red]))
  assert float(classification.scene_chroma_loss(sure, truth, bins)) < 1e-3
  assert float(classification.scene_chroma_loss(sure, 0 * truth, bins)) == pytest.approx(
      chroma ** 2, rel=1e-4)
  # Charging only the excess: the gray photo still pays, the red one under a
  # gray guess does not.
  assert float(classification.scene_chroma_loss(sure, 0 * truth, bins, excess_only=True)) == (
      pytest.approx(chroma ** 2, rel=1e-4))
  gray = np.zeros_like(sure)
  gray[..., int(np.argmin(np.linalg.norm(bins, axis=-1)))] = 60.0
  assert float(classification.scene_chroma_loss(gray, truth, bins)) > 100
  assert float(classification.scene_chroma_loss(gray, truth, bins, excess_only=True)) == 0
  # Sure of gray, where |E[ab]| has no gradient: the loss's gradient stays finite.
  assert np.isfinite(np.asarray(jax.grad(classification.scene_chroma_loss)(
      jnp.asarray(gray), jnp.asarray(truth), bins))).all()


def test_the_classification_loss_adds_the_scene_term_at_its_weight():
  from colorjax import color, tasks  # pylint: disable=g-import-not-at-top
  from configs import default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.model.head = 'classification'
  bins = classification.ab_bins()
  rng = np.random.default_rng(8)
  logits = jnp.asarray(rng.normal(size=(2, 3, 4, len(bins))), jnp.float32)
  ab = jnp.asarray(rng.uniform(-0.4, 0.4, size=(2, 3, 4, 2)), jnp.float32)  # Normalised.
  weights = rng.uniform(0.2, 5.0, len(bins)).astype(np.float32)
  plain = tasks.of(config).loss(config, {'class_weights': weights})(logits, ab)
  config.classification.scene_weight = 0.01
  both = tasks.of(config).loss(config, {'class_weights': weights})(logits, ab)
  scene = classification.scene_chroma_loss(logits, ab * color.AB_SCALE, bins, weights)
  assert float(scene) > 1.0  # Random logits are far from these colours' amount.
  assert float(both) == pytest.approx(float(plain) + 0.01 * float(scene), rel=1e-5)
  config.classification.scene_excess_only = True
  excess = tasks.of(config).loss(config, {'class_weights': weights})(logits, ab)
  assert float(excess) == pytest.approx(float(plain) + 0.01 * float(
      classification.scene_chroma_loss(logits, ab * color.AB_SCALE, bins, weights,
                                       excess_only=True)), rel=1e-5)


def test_tuning_chooses_the_most_colourful_setting_that_beats_gray():
  from colorjax import tune
  row = lambda a, psnr, cf: {'adjustment': a, 'temperature': 0.38, 'psnr': psnr,
                             'gray_psnr': 22.0, 'colorfulness': cf}
  rows = [row(0.0, 21.0, 40.0), row(0.2, 22.1, 30.0), row(0.3, 22.5, 25.0)]
  assert tune.choose(rows)[0]['adjustment'] == 0.2
  assert tune.choose(rows, min_gain_db=0.3)[0]['adjustment'] == 0.3
  chosen, rule = tune.choose(rows, min_gain_db=1.0)
  assert chosen['adjustment'] == 0.3 and 'no setting' in rule
  # A setting that wins on the mean but loses on one folder's photos.
  folders = lambda streets: {'parks': {'images': 2, 'psnr': 23.0, 'gray_psnr': 22.0},
                             'streets': {'images': 2, 'psnr': streets, 'gray_psnr': 22.0}}
  for row, streets in zip(rows, (20.0, 21.0, 22.5)):
    row['folders'] = folders(streets)
  assert tune.choose(rows)[0]['adjustment'] == 0.2
  chosen, rule = tune.choose(rows, min_folder_gain_db=0.0)
  assert chosen['adjustment'] == 0.3 and 'every folder' in rule
  chosen, rule = tune.choose(rows, min_folder_gain_db=1.0)
  assert chosen['adjustment'] == 0.3 and 'worst folder' in rule
  # A folder gray already gets nearly right may stay below gray by its own
  # margin (by path or last component): here streets -1.5 dB lets 0.2 pass.
  for gains in ({'streets': -1.5}, {'data/streets': -1.5}):
    for row in rows:
      row['folders'] = {f'data/{k}' if 'data' in next(iter(gains)) else k: v
                        for k, v in row['folders'].items()}
    chosen, rule = tune.choose(rows, min_folder_gain_db=0.0, folder_gains=gains)
    assert chosen['adjustment'] == 0.2 and '-1.5 dB on' in rule
  assert tune.folder_gains(['train_neutral:-0.5', 'a:b:1']) == {'train_neutral': -0.5, 'a:b': 1.0}
  with pytest.raises(ValueError, match='FOLDER:DB pairs'):
    tune.folder_gains(['neutral'])


def test_nearest_bin_lookup_equals_a_full_search():
  bins = classification.ab_bins()
  ab = np.random.default_rng(0).uniform(-130, 130, (5000, 2))  # Out of gamut too.
  distances = np.linalg.norm(ab[:, None] - bins, axis=-1)
  found = classification.nearest_bins(ab, bins)
  # As near as the nearest (a value equidistant from two bins may get either).
  np.testing.assert_allclose(distances[np.arange(len(ab)), found],
                             distances.min(axis=-1), rtol=1e-9)


def test_soft_encoding_of_photo_colours_equals_a_full_search():
  """The 5x5-cell candidate search finds the exact nearest bins of sRGB colours."""
  bins = classification.ab_bins()
  rgb = np.random.default_rng(1).integers(0, 256, (20000, 3), dtype=np.uint8)
  rgb[:6] = [[0, 255, 0], [0, 0, 255], [255, 0, 255], [255, 255, 0], [255, 0, 0], [0, 255, 255]]
  ab = skimage.color.rgb2lab(rgb[:, None])[:, 0, 1:]
  indices, _ = classification.soft_encode(jnp.asarray(ab, jnp.float32), bins)
  distances = np.linalg.norm(ab[:, None] - bins, axis=-1)
  nearest = np.sort(distances, axis=-1)[:, :5]
  found = np.take_along_axis(distances, np.asarray(indices), axis=-1)
  np.testing.assert_allclose(found, nearest, atol=1e-3)


def test_classification_run_is_evaluated_and_colorized_like_any_other(tmp_path, photo_folder):
  from colorjax import colorize
  from tests.conftest import run_module, tiny_overrides
  workdir = str(tmp_path / 'run')
  run_module(['colorjax.main', '--config=configs/unet_classification.py',
              *tiny_overrides(workdir, photo_folder, steps=2,
                              **{'classification.prior_images': 5})])
  with np.load(f'{workdir}/ab_prior.npz') as stored:
    prior = dict(stored)
  assert prior['counts'].shape == (261,) and int(prior['images']) == 5
  model, variables, info = inference.load_model(workdir)
  assert isinstance(model, classification.Decoded) and model.temperature == 0.38
  # The checkpoint keeps the class weights that training derived from the prior.
  np.testing.assert_allclose(
      np.exp(model.log_weights),
      classification.rebalance_weights(prior['counts'], classification.ab_bins()),
      rtol=1e-5)
  photo = skimage.data.coffee()[:50, :70]
  out = colorize.colorize(photo, model, variables)
  assert out.shape == photo.shape and out.dtype == np.uint8
  # The commands read the head from the checkpoint.
  result = run_module(['colorjax.evaluate', f'--checkpoint={workdir}',
                       f'--data={photo_folder}', f'--out={tmp_path}/eval',
                       '--resolution=native', '--temperature=1'])
  assert 'psnr' in result.stdout
  import json
  settings = json.load(open(f'{tmp_path}/eval/metrics.json'))['settings']
  assert settings['temperature'] == 1.0
  run_module(['colorjax.colorize', f'--checkpoint={workdir}', photo_folder,
              f'--out={tmp_path}/colorized', '--adjustment=0.5'])
  assert len(list((tmp_path / 'colorized').iterdir())) == 24
  # Tuning on the run's own held-out photos; the export decodes as chosen.
  result = run_module(['colorjax.tune', f'--checkpoint={workdir}', f'--out={tmp_path}/tune',
                       '--adjustments=0,1', '--temperatures=0.38', '--confidences=0,2',
                       '--scene_chromas=0,8', '--min_gain_db=-99', f'--export={tmp_path}/tuned'])
  record = json.load(open(f'{tmp_path}/tune/tune.json'))
  assert len(record['rows']) == 8 and 0 < record['settings']['images'] < 24
  assert 'chosen' in result.stdout
  tuned, _, _ = inference.load_model(f'{tmp_path}/tuned')
  assert (tuned.adjustment, tuned.temperature, tuned.confidence, tuned.scene_chroma) == (
      record['choice']['adjustment'], record['choice']['temperature'],
      record['choice']['confidence'], record['choice']['scene_chroma'])


def test_prior_command_counts_any_source_and_training_reuses_the_file(tmp_path, photo_folder):
  from tests.conftest import run_module, tiny_overrides
  out = str(tmp_path / 'prior.npz')
  result = run_module(['colorjax.prior', '--config=configs/unet_classification.py',
                       '--config.data.folder=' + photo_folder,
                       '--config.data.eval_fraction=0.25', f'--out={out}'])
  assert 'most common ab' in result.stdout
  with np.load(out) as prior:
    assert prior['counts'].sum() > 0 and prior['source'] == f'folder:{photo_folder}'
  workdir = str(tmp_path / 'run')
  result = run_module(['colorjax.main', '--config=configs/unet_classification.py',
                       *tiny_overrides(workdir, photo_folder, steps=2,
                                       **{'classification.prior': out})])
  assert f'ab prior from {out}' in result.stderr
  missing = run_module(['colorjax.main', '--config=configs/unet_classification.py',
                        *tiny_overrides(str(tmp_path / "bad"), photo_folder, steps=2,
                                        **{'classification.prior': '/no/prior.npz'})],
                       check=False)
  assert missing.returncode == 1
  assert 'error: config.classification.prior names /no/prior.npz' in missing.stderr

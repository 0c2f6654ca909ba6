"""Colour hints: the simulation, the network's extra inputs, training with
hints under every task."""

import io
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest
import scipy.sparse
import scipy.sparse.linalg
import skimage.color

from colorjax import colorize
from colorjax import evaluate
from colorjax import export
from colorjax import hints
from colorjax import inference
from colorjax import parallel
from colorjax import serve
from colorjax import tasks
from colorjax import train
from tests.conftest import CHROMIUM
from tests.conftest import CHROMIUM_ARGS
from tests.conftest import photo_crops
from tests.conftest import run_module
from tests.conftest import serving
from tests.conftest import tiny_config
from tests.conftest import write_photo_folder


def test_a_hint_is_its_patch_mean_and_later_hints_win():
  ab = jax.random.uniform(jax.random.key(0), (12, 10, 2), minval=-1)
  hint_ab, mask = hints.paint(ab, jnp.array([2, 3]), jnp.array([1, 2]), jnp.array([4, 3]),
                              jnp.array([True, True]))
  second = np.asarray(ab[3:6, 2:5]).mean(axis=(0, 1))
  first = np.asarray(ab[2:6, 1:5]).mean(axis=(0, 1))
  np.testing.assert_allclose(hint_ab[4, 3], second, atol=1e-6)  # Both cover it.
  np.testing.assert_allclose(hint_ab[2, 1], first, atol=1e-6)  # Only the first.
  assert float(mask.sum()) == 16  # The second lies inside the first.
  assert float(np.abs(hint_ab[0, 0]).sum()) == 0
  _, none = hints.paint(ab, jnp.array([2]), jnp.array([1]), jnp.array([4]), jnp.array([False]))
  assert float(none.sum()) == 0


def test_simulated_hints_follow_the_papers_distribution():
  ab = jnp.zeros((4000, 24, 24, 2))
  keys = jax.random.split(jax.random.key(0), 4000)
  counts, sizes = jax.vmap(lambda k: _count_and_largest(k, ab[0]))(keys)
  counts = np.asarray(counts)
  # Geometric with p = 1/8: 1/8 of images get none, the mean is 7 (capped at 32).
  assert 0.08 < np.mean(counts == 0) < 0.18
  assert 5.5 < counts.mean() < 8.5 and counts.max() <= hints.MAX_HINTS
  assert 1 <= int(sizes.min()) and int(sizes.max()) <= 9


def test_uniform_placement_reaches_the_corners_as_evaluation_does():
  # The paper's hints cluster at the centre; 'uniform' ones cover a crop's
  # corners nearly as often (measured: corner/centre density 0.06 and 0.63 on
  # these 500 crops, 0.06-0.08 and 0.63-0.69 for keys 0-3, 0.09 and 0.58 on
  # 2,000, which took 25 s on 2 CPU cores against 12).
  ab = jnp.zeros((500, 96, 96, 2))
  ratios = {}
  for placement in hints.PLACEMENTS:
    _, mask = hints.simulate_batch(jax.random.key(0), ab, 0, placement)
    density = np.asarray(mask)[..., 0].mean(axis=0)
    ratios[placement] = density[:16, :16].mean() / density[40:56, 40:56].mean()
  assert ratios['centre'] < 0.25 < ratios['uniform']


def test_an_unknown_placement_is_named():
  with pytest.raises(ValueError, match='config.hints.placement'):
    hints.placement({'hints': {'enabled': True, 'placement': 'edges'}})


def _count_and_largest(key, ab):
  """The number of hints and the side of the largest, from `simulate`'s draws."""
  k_count, k_size, _, _ = jax.random.split(key, 4)
  uniform = jax.random.uniform(k_count, minval=jnp.finfo(jnp.float32).tiny)
  count = jnp.minimum(jnp.floor(jnp.log(uniform) / jnp.log1p(-1 / 8)), hints.MAX_HINTS)
  sizes = jax.random.randint(k_size, (hints.MAX_HINTS,), 1, 10)
  hint_ab, mask = hints.simulate(key, ab)
  del hint_ab
  # The mask covers at most the active patches' area.
  largest = jnp.max(jnp.where(jnp.arange(hints.MAX_HINTS) < count, sizes, 1))
  return jnp.where(jnp.sum(mask) <= jnp.sum(jnp.where(jnp.arange(
      hints.MAX_HINTS) < count, sizes ** 2, 0)), count, -1), largest


def test_evaluation_hints_are_seeded_squares():
  ab = np.random.default_rng(0).uniform(-1, 1, (40, 30, 2)).astype(np.float32)
  a = hints.evaluation_hints(ab, 5, seed=3)
  b = hints.evaluation_hints(ab, 5, seed=3)
  np.testing.assert_array_equal(a[1], b[1])
  assert 36 <= a[1].sum() <= 5 * 36
  assert hints.evaluation_hints(ab, 0, seed=3)[1].sum() == 0
  # Nested: each count keeps the hints of every smaller count (a sweep adds hints).
  masks = [hints.evaluation_hints(ab, n, seed=3)[1] for n in (1, 2, 5, 10, 300)]
  for smaller, larger in zip(masks, masks[1:]):
    assert np.all(larger >= smaller) and larger.sum() > smaller.sum()


@pytest.mark.parametrize('name', ['cnn', 'unet'])
def test_hints_change_only_the_first_layers_inputs(name):
  plain = tiny_config(**{'model.name': name})
  hinted = tiny_config(**{'model.name': name, 'hints.enabled': True})
  shapes = []
  for config in (plain, hinted):
    state = jax.eval_shape(lambda c=config: tasks.of(c).create_state(
        c, jax.random.key(0), train.create_model(c)))
    shapes.append({jax.tree_util.keystr(path): leaf.shape for path, leaf
                   in jax.tree_util.tree_leaves_with_path(state.params)})
  assert shapes[0].keys() == shapes[1].keys()
  changed = [k for k in shapes[0] if shapes[0][k] != shapes[1][k]]
  assert len(changed) == 1  # The first convolution's kernel: 1 -> 4 input channels.
  assert shapes[0][changed[0]][2] == 1 and shapes[1][changed[0]][2] == 4


@pytest.mark.parametrize('overrides', [
    {}, {'model.head': 'classification'}, {'gan.enabled': True}])
def test_every_task_trains_with_hints(overrides):
  config = tiny_config(**{'hints.enabled': True, 'opt.warmup_steps': 0, **overrides})
  mesh = parallel.make_mesh(1)
  task = tasks.of(config)
  batch = parallel.shard_batch(mesh, {'rgb': np.stack(photo_crops(4, 32, 32))})
  model = train.create_model(config, axis_name=parallel.AXIS)
  fresh = jax.jit(lambda: task.create_state(config, jax.random.key(0), model))
  step = train.make_train_step(mesh, config)  # Donates the state: a fresh one each call.
  losses = [float(step(fresh(), batch, jax.random.key(k))[1]['loss']) for k in (1, 1, 2)]
  # The same key twice: the same hints, the same loss; another key (other
  # hints) another loss, so the hints reach the network.
  assert np.isfinite(losses[0]) and losses[0] == losses[1] != losses[2]

@pytest.fixture(scope='module')
def hinted_run(tmp_path_factory):
  """A 4-step hint-conditioned tiny U-Net, trained in-process."""
  root = tmp_path_factory.mktemp('hinted')
  folder = str(root / 'photos')
  write_photo_folder(folder, 12)
  config = tiny_config(folder, steps=4, **{'hints.enabled': True})
  train.train_and_evaluate(config, str(root / 'run'), mesh=parallel.make_mesh(1))
  return str(root / 'run'), folder


def test_a_hinted_model_colorizes_with_and_without_hints(hinted_run):
  model, variables, _ = inference.load_model(hinted_run[0])
  colorizer = colorize.Colorizer(model, variables)
  assert colorizer.hinted
  rgb = np.stack(photo_crops(1, 40, 48))
  l = colorizer.lightness(rgb)
  plain = colorizer.predict_ab(l, 32)  # No hints: an all-zero hint input.
  given = evaluate.photo_hints(rgb[0], 'a.png', 5, 32)
  assert given[1].sum() > 0
  assert np.abs(colorizer.predict_ab(l, 32, given) - plain).max() > 0


def test_plain_models_refuse_hints(tiny_run):
  model, variables, _ = inference.load_model(tiny_run)
  colorizer = colorize.Colorizer(model, variables)
  assert not colorizer.hinted
  l = colorizer.lightness(np.stack(photo_crops(1, 16, 16)))
  with pytest.raises(ValueError, match='not trained with colour hints'):
    colorizer.predict_ab(l, 16, (np.zeros((1, 16, 16, 2)), np.zeros((1, 16, 16, 1))))


def test_evaluate_sweeps_the_number_of_hints(hinted_run, tmp_path):
  run, folder = hinted_run
  out = tmp_path / 'eval'
  result = run_module(['colorjax.evaluate', f'--checkpoint={run}', f'--data={folder}',
                       f'--out={out}', '--hints=0,2,8', '--resolution=32'])
  record = json.loads((out / 'metrics.json').read_text())
  sweep = record['settings']['by_hints']
  assert sorted(sweep, key=int) == ['0', '2', '8'] and record['settings']['hints'] == 0
  assert sweep['0']['model'] == record['model']
  assert sweep['8']['model']['psnr'] != sweep['0']['model']['psnr']
  assert sweep['8']['gray'] == sweep['0']['gray']  # The baseline ignores hints.
  assert (out / 'psnr_vs_hints.png').exists() and ' 8 hints: PSNR' in result.stdout
  # colorjax.tune --hints scores a decoding with the same hints as evaluate.
  run_module(['colorjax.tune', f'--checkpoint={run}', f'--data={folder}',
              f'--out={tmp_path}/tune', '--saturations=1', '--hints=8', '--resolution=32'])
  [row] = json.loads((tmp_path / 'tune' / 'tune.json').read_text())['rows']
  np.testing.assert_allclose(row['psnr'], sweep['8']['model']['psnr'], rtol=1e-6)
  # ... and a hint propagation as evaluate --hint_spread applies it, then exports it.
  run_module(['colorjax.tune', f'--checkpoint={run}', f'--data={folder}',
              f'--out={tmp_path}/tune', '--saturations=1', '--hints=8', '--resolution=32',
              '--hint_spreads=0,0.25', '--hint_reaches=2', '--hint_methods=affinity,optimize',
              '--best_psnr', f'--export={tmp_path}/tuned'])
  record = json.loads((tmp_path / 'tune' / 'tune.json').read_text())
  off, on, solved = record['rows']
  assert (off['hint_spread'], on['hint_spread'], on['hint_reach']) == (0, 0.25, 2)
  assert (solved['hint_method'], 'hint_reach' in solved) == ('optimize', False)
  np.testing.assert_allclose(off['psnr'], row['psnr'], rtol=1e-6)
  run_module(['colorjax.evaluate', f'--checkpoint={run}', f'--data={folder}',
              f'--out={out}', '--hints=8', '--resolution=32', '--hint_spread=0.25',
              '--hint_reach=2'])
  spread = json.loads((out / 'metrics.json').read_text())
  np.testing.assert_allclose(on['psnr'], spread['model']['psnr'], rtol=1e-6)
  assert spread['settings']['hint_propagation'] == {'spread': 0.25, 'lightness': 0.15,
                                                    'reach': 2.0, 'method': 'affinity'}
  run_module(['colorjax.evaluate', f'--checkpoint={run}', f'--data={folder}',
              f'--out={out}', '--hints=8', '--resolution=32', '--hint_spread=0.25',
              '--hint_method=optimize'])
  np.testing.assert_allclose(solved['psnr'], json.loads(
      (out / 'metrics.json').read_text())['model']['psnr'], rtol=1e-6)
  tuned = inference.load_model(f'{tmp_path}/tuned')[0]
  assert getattr(tuned, 'settings', None) == hints.propagation_settings(
      {}, **{k: record['choice'].get(k) for k in hints.PROPAGATION_KEYS})
  bad = run_module(['colorjax.evaluate', f'--checkpoint={run}', f'--data={folder}',
                    f'--out={out}', '--hints=two'], check=False)
  assert bad.returncode == 1 and bad.stderr.count('error: ') == 1
  assert '--hints takes counts of 0 or more' in bad.stderr


def _propagate_float64(l, ab, hint_ab, mask, sigma, lightness, reach):
  """`hints.propagate` written pixel by pixel in float64, every hinted pixel
  a source of its own (what the pooled cells are for a cell of one pixel)."""
  height, width = l.shape
  sources = np.argwhere(mask[..., 0] > 0)
  out = ab.astype(np.float64).copy()
  for y in range(height):
    for x in range(width):
      w = np.exp(-((sources - (y, x)) ** 2).sum(1) / (2 * sigma ** 2)
                 - (l[tuple(sources.T)] - l[y, x]) ** 2 / (2 * lightness ** 2))
      colour = (w[:, None] * hint_ab[tuple(sources.T)]).sum(0) / w.sum()
      out[y, x] += w.max() ** (1 / reach) * (colour - out[y, x])
  return out


# 273 cells, 29 of them hinted: the default weighs the pixels against the 128
# most hinted cells; 16 are too few for the 29 (all cells are used); 1,000
# cover every cell.
@pytest.mark.parametrize('hinted_cells', [hints._HINTED_CELLS, 16, 1000])  # pylint: disable=protected-access
def test_propagation_matches_a_float64_reference(hinted_cells, monkeypatch):
  monkeypatch.setattr(hints, '_HINTED_CELLS', hinted_cells)
  rng = np.random.default_rng(0)
  height, width = 13, 21  # Not multiples of the 8-row blocks.
  l = rng.uniform(-1, 1, (height, width)).astype(np.float32)
  ab = rng.uniform(-0.5, 0.5, (height, width, 2)).astype(np.float32)
  tops, lefts = np.array([1, 7, 9]), np.array([2, 15, 4])
  hint_ab, mask = hints.paint(jnp.asarray(rng.uniform(-0.5, 0.5, (height, width, 2)),
                                          jnp.float32),
                              jnp.asarray(tops), jnp.asarray(lefts), jnp.array([3, 2, 4]),
                              jnp.ones(3, bool))
  x = hints.network_input(jnp.asarray(l)[..., None], hint_ab, mask)
  # spread 0.25 of 13 rows: sigma 3.25 px, cells of one pixel.
  got = hints.propagate(x[None], jnp.asarray(ab)[None], spread=0.25, lightness=0.3, reach=2.0)
  expected = _propagate_float64(l, ab, np.asarray(hint_ab), np.asarray(mask), 3.25, 0.3, 2.0)
  np.testing.assert_allclose(np.asarray(got[0]), expected, atol=1e-5)


def _optimize_float64(l, ab, hint_ab, mask, alpha, lightness):
  """`hints.optimize`'s minimiser from scipy's sparse direct solver, float64."""
  height, width = l.shape
  index = np.arange(height * width).reshape(height, width)
  rows, cols, weights = [], [], []
  for a, b in ((index[:, 1:], index[:, :-1]), (index[1:], index[:-1])):
    w = np.exp(-(l.ravel()[a.ravel()] - l.ravel()[b.ravel()]) ** 2 / (2 * lightness ** 2))
    rows += [a.ravel(), b.ravel()]
    cols += [b.ravel(), a.ravel()]
    weights += [-w, -w]
  adjacency = scipy.sparse.csr_matrix((np.concatenate(weights), (np.concatenate(rows),
                                       np.concatenate(cols))), shape=(index.size,) * 2)
  held = alpha + hints._PIN * mask.ravel()  # pylint: disable=protected-access
  system = adjacency + scipy.sparse.diags(held - np.asarray(adjacency.sum(1)).ravel())
  target = alpha * ab.reshape(-1, 2) + (held - alpha)[:, None] * hint_ab.reshape(-1, 2)
  return np.stack([scipy.sparse.linalg.spsolve(system.tocsc(), target[:, c])
                   for c in range(2)], -1).reshape(height, width, 2)


def test_optimize_matches_a_float64_sparse_solve():
  rng = np.random.default_rng(1)
  height, width = 13, 21
  l = rng.uniform(-1, 1, (height, width)).astype(np.float32)
  ab = rng.uniform(-0.5, 0.5, (height, width, 2)).astype(np.float32)
  hint_ab, mask = hints.paint(jnp.asarray(rng.uniform(-0.5, 0.5, (height, width, 2)),
                                          jnp.float32),
                              jnp.array([1, 7]), jnp.array([2, 15]), jnp.array([3, 2]),
                              jnp.ones(2, bool))
  x = hints.network_input(jnp.asarray(l)[..., None], hint_ab, mask)
  got = hints.optimize(x[None], jnp.asarray(ab)[None], spread=0.5, lightness=0.4, steps=400,
                       scale=1)
  expected = _optimize_float64(l.astype(np.float64), ab.astype(np.float64),
                               np.asarray(hint_ab, np.float64), np.asarray(mask, np.float64),
                               1 / 6.5 ** 2, 0.4)
  np.testing.assert_allclose(np.asarray(got[0]), expected, atol=1e-4)


def _two_halves_one_hint():
  """A 40x64 photo dark on its left half and light on its right (l -0.6 and
  0.6), the network's ab 0.1 everywhere, and one 6x6 hint (-0.4, 0.3) at rows
  18-23, columns 4-9: (l [40, 64, 1], ab [1, 40, 64, 2], network input x)."""
  height, width = 40, 64
  l = np.where(np.arange(width) < 32, -0.6, 0.6)[None, :, None] * np.ones((height, 1, 1))
  ab = np.full((1, height, width, 2), 0.1, np.float32)
  hint_ab = np.zeros((height, width, 2), np.float32)
  mask = np.zeros((height, width, 1), np.float32)
  hint_ab[18:24, 4:10], mask[18:24, 4:10] = (-0.4, 0.3), 1.0  # On the dark half.
  return l, ab, hints.network_input(jnp.asarray(l, jnp.float32), hint_ab, mask)[None]


def test_optimize_fills_the_hints_region_and_stops_at_an_edge():
  l, ab, x = _two_halves_one_hint()
  out = np.asarray(hints.optimize(x, jnp.asarray(ab), spread=2.0, lightness=0.05))[0]
  gap = lambda pixel: np.abs(pixel - (-0.4, 0.3)).max()
  assert gap(out[20, 6]) < 0.05  # On the hint.
  # The far corner of the dark half takes most of the hint's colour; across
  # the edge (1.2 apart in l, lightness 0.05) the network's stays, but for
  # the one column that the half-size solve's change, resized back, blurs.
  assert gap(out[0, 30]) < 0.5 * gap(ab[0, 0, 30])
  np.testing.assert_allclose(out[:, 33:], ab[0, :, 33:], atol=1e-3)
  no_hints = hints.without_hints(jnp.asarray(l, jnp.float32))[None]
  np.testing.assert_array_equal(np.asarray(hints.optimize(no_hints, jnp.asarray(ab),
                                                          spread=2.0, lightness=0.05)), ab)


def test_propagation_follows_lightness_and_leaves_unhinted_photos_alone():
  l, ab, x = _two_halves_one_hint()
  settings = dict(spread=0.5, lightness=0.15, reach=2.0)  # Cells of 5x5 pixels.
  out = np.asarray(hints.propagate(x, jnp.asarray(ab), **settings))[0]
  np.testing.assert_allclose(out[18:24, 4:10], np.broadcast_to((-0.4, 0.3), (6, 6, 2)),
                             atol=0.02)
  # Along the dark half the hint's colour carries (at 24 px, sigma 20, the
  # formula moves it 72% of the way); across the edge (1.2 apart in l,
  # lightness 0.15) nothing moves.
  assert np.abs(out[20, 30] - (-0.4, 0.3)).max() < 0.7 * np.abs(ab[0, 20, 30] - (-0.4, 0.3)).max()
  np.testing.assert_allclose(out[:, 32:], ab[0, :, 32:], atol=1e-6)
  no_hints = hints.without_hints(jnp.asarray(l, jnp.float32))[None]
  np.testing.assert_array_equal(np.asarray(hints.propagate(no_hints, jnp.asarray(ab),
                                                           **settings)), ab)


def test_propagation_is_a_stored_setting_of_hint_models_only(hinted_run, tiny_run, tmp_path):
  run, _ = hinted_run
  assert not isinstance(inference.load_model(run)[0], hints.Propagated)  # Off unless stored.
  model, _, _ = inference.load_model(run, hint_spread=0.25, hint_reach=2)
  assert model.settings == {'spread': 0.25, 'lightness': 0.15, 'reach': 2.0,
                            'method': 'affinity'}
  inference.export(run, str(tmp_path / 'bundle'), hint_spread=0.3, hint_lightness=0.2)
  model, _, _ = inference.load_model(str(tmp_path / 'bundle'))
  assert model.settings == {'spread': 0.3, 'lightness': 0.2, 'reach': 1.0, 'method': 'affinity'}
  inference.export(run, str(tmp_path / 'solved'), hint_spread=1.5, hint_lightness=0.02,
                   hint_method='optimize')
  model, _, _ = inference.load_model(str(tmp_path / 'solved'))
  assert (model.settings['method'], model.settings['spread']) == ('optimize', 1.5)
  with pytest.raises(ValueError, match='method must be one of affinity, optimize'):
    inference.load_model(run, hint_spread=0.25, hint_method='levin')
  assert not isinstance(inference.load_model(str(tmp_path / 'bundle'), hint_spread=0)[0],
                        hints.Propagated)
  with pytest.raises(ValueError, match='for a model trained with colour hints'):
    inference.load_model(tiny_run, hint_spread=0.25)
  with pytest.raises(ValueError, match='for a model trained with colour hints'):
    inference.export(tiny_run, str(tmp_path / 'plain'), hint_spread=0.25)
  assert not (tmp_path / 'plain').exists()  # Refused before anything is written.
  with pytest.raises(ValueError, match='hint lightness and reach must be positive'):
    inference.load_model(run, hint_spread=0.25, hint_reach=-1)


def test_a_persons_hints_take_the_photos_lightness():
  l = np.full((20, 30, 1), 0.0, np.float32)  # L = 50 everywhere.
  hint_ab, mask = hints.from_points(l, [(5, 5, (255, 0, 0)), (29, 19, (0, 0, 255))], size=5)
  assert mask.sum() == 25 + 9  # The second square is cut by the corner.
  assert hint_ab[5, 5, 0] > 0.4 and hint_ab[19, 29, 1] < -0.4  # Red: a > 0; blue: b < 0.
  with pytest.raises(ValueError, match=r'The hint at \(40, 5\) lies outside the 30x20 photo'):
    hints.from_points(l, [(40, 5, (255, 0, 0))])
  with pytest.raises(ValueError, match='3 values in 0..255'):
    hints.from_points(l, [(4, 5, (300, 0, 0))])


def test_colorize_command_reads_a_hints_file(hinted_run, tmp_path):
  run, folder = hinted_run
  name = sorted(os.listdir(folder))[0]
  photo = os.path.join(folder, name)
  red = tmp_path / 'hints.json'
  red.write_text(json.dumps({name: [{'x': x, 'y': y, 'rgb': [250, 20, 20]}
                                    for x in range(2, 40, 6) for y in range(2, 30, 6)]}))
  outputs = {}
  for label, extra in (('plain', []), ('red', [f'--hints={red}'])):
    run_module(['colorjax.colorize', f'--checkpoint={run}', photo,
                f'--out={tmp_path / label}', '--resolution=native', *extra])
    outputs[label] = np.asarray(Image.open(tmp_path / label / name.replace('.jpg', '.png')))
  assert np.abs(outputs['red'].astype(int) - outputs['plain']).max() > 0
  bad = tmp_path / 'bad.json'
  bad.write_text('{"a.jpg": [{"x": 1}]}')
  result = run_module(['colorjax.colorize', f'--checkpoint={run}', photo,
                       f'--out={tmp_path / "bad"}', f'--hints={bad}'], check=False)
  assert result.returncode == 1 and 'must be a list of {"x", "y", "rgb"} objects' in result.stderr


def test_serve_takes_a_hints_field(hinted_run):
  model, variables, info = inference.load_model(hinted_run[0])
  client = serve.create_app(colorize.Colorizer(model, variables), info,
                            default_resolution=32).test_client()
  photo = io.BytesIO()
  Image.fromarray(photo_crops(1, 30, 40)[0]).save(photo, 'PNG')
  post = lambda **fields: client.post('/colorize', data={
      'image': (io.BytesIO(photo.getvalue()), 'p.png'), **fields})
  plain = post()
  hinted = post(hints=json.dumps([{'x': 5, 'y': 5, 'rgb': [20, 20, 240]}]))
  assert plain.status_code == hinted.status_code == 200
  assert plain.data != hinted.data
  assert client.get('/healthz').json['hints'] is True
  bad = post(hints=json.dumps([{'x': 500, 'y': 5, 'rgb': [20, 20, 240]}]))
  assert bad.status_code == 400 and 'lies outside the 40x30 photo' in bad.json['error']
  bad = post(hints='[{"x": 1}]')
  assert bad.status_code == 400 and '{"x", "y", "rgb"}' in bad.json['error']


def test_serve_sends_requests_with_hints_to_the_hint_model(hinted_run, tiny_run):
  """How `colorjax.serve` runs the bundled pair: the automatic model answers
  requests without hints, the hint-conditioned one those with a hints field."""
  plain_model, plain_variables, info = inference.load_model(tiny_run)
  plain = colorize.Colorizer(plain_model, plain_variables)
  hinted = colorize.Colorizer(*inference.load_model(hinted_run[0])[:2])
  client = serve.create_app(plain, info, default_resolution=32,
                            hint_colorizer=hinted).test_client()
  rgb = photo_crops(1, 30, 40)[0]
  photo = io.BytesIO()
  Image.fromarray(rgb).save(photo, 'PNG')
  post = lambda **fields: np.asarray(Image.open(io.BytesIO(client.post('/colorize', data={
      'image': (io.BytesIO(photo.getvalue()), 'p.png'), **fields}).data)), int)
  points = [(5, 5, (20, 20, 240))]
  assert client.get('/healthz').json['hints'] is True
  # The same programs on the same input: equal up to a level of rounding.
  assert np.abs(post() - plain.colorize(rgb, 32)).max() <= 1
  given = post(hints=json.dumps([{'x': 5, 'y': 5, 'rgb': [20, 20, 240]}]))
  assert np.abs(given - hinted.colorize(rgb, 32, hints=points)).max() <= 1
  assert np.abs(given - plain.colorize(rgb, 32)).max() > 1


@pytest.mark.skipif(CHROMIUM is None, reason='needs Debian chromium (.ci/run installs it)')
def test_page_places_moves_and_removes_hints(hinted_run, tmp_path):
  from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top
  photo_path = tmp_path / 'photo.png'
  Image.fromarray(photo_crops(1, 60, 80)[0]).save(photo_path)
  with serving(hinted_run[0]) as url, sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={'width': 1280, 'height': 1400})  # All in view.
    page.goto(url + '/')
    page.wait_for_selector('#hint-panel:not([hidden])')
    page.set_input_files('#file', str(photo_path))
    page.wait_for_function("document.getElementById('colorized').naturalWidth > 0",
                           timeout=60_000)
    first = page.evaluate("document.getElementById('colorized').src")
    page.evaluate("""() => { const c = document.getElementById('hint-color');
                             c.value = '#2040e0'; }""")
    for fx, fy in ((0.25, 0.3), (0.75, 0.7)):  # Two hints, each a new request.
      box = page.locator('#colorized').bounding_box()  # The list above it grows.
      page.mouse.click(box['x'] + fx * box['width'], box['y'] + fy * box['height'])
    page.wait_for_function(f"document.getElementById('colorized').src !== {first!r}")
    page.wait_for_function("document.querySelectorAll('.marker').length === 2")
    assert page.locator('#hint-list li').count() == 2
    # Drag the second hint 24 photo pixels left (the list above the photo
    # has grown, so measure again), then remove the first with its button.
    box = page.locator('#colorized').bounding_box()
    before = page.evaluate('hints[1]')
    scale = box['width'] / 80
    x, y = box['x'] + (before['x'] + 0.5) * scale, box['y'] + (before['y'] + 0.5) * scale
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 24 * scale, y, steps=4)
    page.mouse.up()
    page.click('[aria-label="Remove hint 1"]')
    page.wait_for_function("document.querySelectorAll('.marker').length === 1")
    with page.expect_download() as download:
      page.click('#hint-download')
    saved = tmp_path / 'hints.json'
    download.value.save_as(saved)
    left = json.loads(saved.read_text())
    assert len(left) == 1 and left[0]['rgb'] == [0x20, 0x40, 0xe0]
    assert abs(left[0]['x'] - (before['x'] - 24)) <= 1 and abs(left[0]['y'] - before['y']) <= 1

    # The picker shows the colours that exist at the selected hint's lightness
    # (the mean L of its 5x5 square, as the server takes it) and gives a
    # colour of the chosen a, b at that L. A new hint where that L is nearest
    # 55, away from the one left:
    l_map = skimage.color.rgb2lab(np.asarray(Image.open(photo_path)))[..., 0]
    box = page.locator('#colorized').bounding_box()
    scale = box['width'] / 80
    _, x, y = min((abs(l_map[y - 2:y + 3, x - 2:x + 3].mean() - 55), x, y)
                  for y in range(2, 58) for x in range(2, 78)
                  if np.hypot(x - left[0]['x'], y - left[0]['y']) * scale > 20)
    page.mouse.click(box['x'] + (x + 0.5) * scale, box['y'] + (y + 0.5) * scale)
    page.wait_for_function('hints.length === 2 && selected === 1')
    lightness = page.evaluate('gamutL')
    assert abs(lightness - l_map[y - 2:y + 3, x - 2:x + 3].mean()) < 0.1
    alpha = page.evaluate('''() => { const c = document.getElementById('hint-gamut');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height);
      return [d.data[3], d.data[4 * (88 * c.width + 88) + 3]]; }''')
    assert alpha == [0, 255]  # The corner (a = -110, b = 110) exists at no L; gray at every L.

    def exists(ab):  # In the sRGB gamut at this L: scikit-image's round trip keeps it.
      lab = np.asarray([[[lightness, *ab]]])
      return np.abs(skimage.color.rgb2lab(skimage.color.lab2rgb(lab)) - lab).max() < 0.5
    target = next(ab for ab in ((30, -20), (20, 10), (10, -8), (4, 4)) if exists(ab))
    box = page.locator('#hint-gamut').bounding_box()
    page.mouse.click(box['x'] + (target[0] + 110) / 220 * box['width'],
                     box['y'] + (110 - target[1]) / 220 * box['height'])
    rgb = page.evaluate('hints[1].rgb')
    browser.close()
  lab = skimage.color.rgb2lab(np.asarray([[rgb]], np.uint8))[0, 0]
  assert abs(lab[0] - lightness) < 2 and np.abs(lab[1:] - target).max() < 4, (lab, target)


def test_a_hinted_model_exports_as_an_automatic_colorizer(hinted_run):
  model, variables, _ = inference.load_model(hinted_run[0])
  batch = np.stack(photo_crops(2, 40, 48))
  exported = np.asarray(jax.jit(export.colorize_fn(model, variables, 40, 48, 32))(batch))
  expected = colorize.Colorizer(model, variables).colorize(batch, 32)
  assert exported.shape == expected.shape
  # jax.image.resize against PIL's resize, as in test_export: well under a level on average.
  assert np.abs(exported.astype(int) - expected.astype(int)).mean() < 1.0

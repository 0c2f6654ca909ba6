"""The task interface: the registry picks a config's task, and a new task is
one class and one registry line, trained, checkpointed, decoded and scored by
the unchanged loop and commands."""

import glob
import importlib
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from colorjax import checkpoint
from colorjax import color
from colorjax import colorize
from colorjax import inference
from colorjax import parallel
from colorjax import sources
from colorjax import tasks
from colorjax import train
from colorjax import tune
from colorjax.errors import ConfigError
from colorjax.tasks import base
from tests.conftest import tiny_config


@pytest.mark.parametrize('overrides,name', [
    ({}, 'regression'),
    ({'model.head': 'classification'}, 'classification'),
    ({'gan.enabled': True}, 'gan'),
])
def test_the_registry_picks_the_task_of_a_config(overrides, name):
  config = tiny_config(**overrides)
  assert tasks.of(config).name == name
  # The same choice from the dict a checkpoint stores; older runs had no head.
  record = config.to_dict()
  assert tasks.of(record).name == name
  del record['model']['head']
  record['gan'] = {}
  assert tasks.of(record).name == 'regression'


def test_an_unknown_head_is_one_sentence_naming_the_tasks():
  with pytest.raises(ConfigError, match=r"config.model.head must be one of "
                     r"\('regression', 'classification'\), not 'ordinal'"):
    train.validate_config(tiny_config(**{'model.head': 'ordinal'}), 1)


class _Huber(base.Task):
  """A new task in a few lines: the ab network trained with a Huber loss and
  decoded at 1.2x saturation by default."""
  name = 'huber'

  def loss(self, config, extras):
    return lambda pred, true: jnp.mean(optax.huber_loss(pred, true, delta=0.05))

  def stored_config(self, config, extras):
    record = super().stored_config(config, extras)
    record['model']['saturation'] = 1.2
    return record


def test_a_new_task_is_one_class_and_one_registry_line(monkeypatch, tmp_path, photo_folder):
  monkeypatch.setitem(tasks.REGISTRY, 'huber', _Huber())
  config = tiny_config(photo_folder, steps=4, **{'model.head': 'huber'})
  workdir = str(tmp_path / 'run')
  state = train.train_and_evaluate(config, workdir, mesh=parallel.make_mesh(1))
  assert int(state.step) == 4
  # Its loss is the one the loop's step reports (computed before the step,
  # which donates the state).
  rgb = np.stack([np.full((32, 32, 3), v, np.uint8) for v in (40, 200)])
  rgb[..., 0] = 250
  l, ab = color.normalize(color.rgb_to_lab(rgb))
  pred, _ = train.create_model(config).apply(
      {'params': state.params, 'batch_stats': state.batch_stats}, l, train=True,
      mutable=['batch_stats'])
  expected = float(jnp.mean(optax.huber_loss(pred, ab, delta=0.05)))
  mesh = parallel.make_mesh(1)
  _, metrics = train.make_train_step(mesh, config)(
      state, parallel.shard_batch(mesh, {'rgb': rgb}), jax.random.key(0))
  np.testing.assert_allclose(float(metrics['loss']), expected, rtol=1e-4)

  # The checkpoint decodes through the task: its stored saturation applies.
  model, variables, info = inference.load_model(workdir)
  assert info['config']['model']['head'] == 'huber' and model.saturation == 1.2
  source, names = sources.open_images(photo_folder)
  rows = tune.settings_grid(info['config'], [0], [0.38], [1.0, 1.5])
  assert rows == [{'saturation': 1.0}, {'saturation': 1.5}]
  scored, images = tune.score_settings(info['config'], variables, source, names[:2],
                                       colorize.NATIVE, rows)
  assert images == 2 and all(np.isfinite(r['psnr']) for r in scored)


def test_a_run_starts_from_another_runs_parameters(tiny_run, photo_folder, tmp_path):
  """config.init_from (fine-tuning): a fresh run starts from the parameters
  and BatchNorm statistics of a checkpoint of the same network, on any mesh."""
  config = tiny_config(photo_folder, steps=1, **{
      'init_from': tiny_run, 'opt.warmup_steps': 0, 'opt.learning_rate': 1e-9,
      'opt.schedule': 'constant'})
  state = train.train_and_evaluate(config, str(tmp_path / 'run'), mesh=parallel.make_mesh(8))
  assert int(state.step) == 1
  saved, _ = checkpoint.load(tiny_run)
  # One step at a learning rate of 1e-9 moves no parameter by more than 1e-8.
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(saved['params'])):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-6)

  other = tiny_config(photo_folder, **{'init_from': tiny_run, 'model.widths': (4, 8)})
  with pytest.raises(ConfigError, match=r'config.init_from \(.*\) holds another network'):
    tasks.of(other).warm_start(other, train.create_model(other), None)
  missing = tiny_config(photo_folder, init_from=str(tmp_path / 'nowhere'))
  with pytest.raises(ConfigError, match='config.init_from: '):
    tasks.of(missing).warm_start(missing, train.create_model(missing), None)


def test_an_automatic_run_starts_a_hint_network_that_computes_the_same_at_first(
    tiny_run, photo_folder):
  """init_from across colour hints: the first convolution reads the hint
  channels with zero weights, so any hints leave the run's output unchanged
  until training teaches the network to use them."""
  config = tiny_config(photo_folder, **{'init_from': tiny_run, 'hints.enabled': True})
  variables = tasks.of(config).warm_start(config, train.create_model(config), None)
  saved, record = checkpoint.load(tiny_run)
  rng = np.random.default_rng(0)
  l = rng.uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
  hinted = np.concatenate([l, rng.uniform(-1, 1, (2, 32, 32, 2)),
                           rng.integers(0, 2, (2, 32, 32, 1))], -1).astype(np.float32)
  run_model = train.create_model(tiny_config(photo_folder))
  expected = run_model.apply({'params': saved['params'], 'batch_stats': saved['batch_stats']},
                             l, train=False)
  got = train.create_model(config).apply(variables, hinted, train=False)
  np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6)
  assert record['hints']['enabled'] is False


def test_a_regression_run_starts_a_classification_network_with_a_fresh_head(
    tiny_run, photo_folder):
  config = tiny_config(photo_folder, **{'init_from': tiny_run,
                                        'model.head': 'classification'})
  variables = tasks.of(config).warm_start(config, train.create_model(config), None)
  saved, _ = checkpoint.load(tiny_run)
  fresh, kept = 0, 0
  flat_new = dict(jax.tree_util.tree_flatten_with_path(variables['params'])[0])
  for path, value in jax.tree_util.tree_flatten_with_path(saved['params'])[0]:
    if path[0].key == 'head':
      fresh += 1
      assert flat_new[path].shape != value.shape
    else:
      kept += 1
      np.testing.assert_array_equal(np.asarray(flat_new[path]), np.asarray(value))
  assert fresh and kept


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs', '[a-z]*.py'))))
def test_every_config_file_passes_the_checks(path):
  name = os.path.basename(path)[:-3]
  config = importlib.import_module(f'configs.{name}').get_config()
  train.validate_config(config, 1)
  assert tasks.name_of(config) in tasks.REGISTRY


def test_every_gpu_recipe_variant_passes_the_checks():
  photos_gpu = importlib.import_module('configs.photos_gpu')
  kinds = set()
  for variant in photos_gpu.VARIANTS:
    config = photos_gpu.get_config(variant)
    train.validate_config(config, 1)
    kinds.add((tasks.name_of(config), config.model.name, config.hints.enabled))
  assert kinds == {('regression', 'unet', False), ('classification', 'unet', False),
                   ('regression', 'unet', True), ('regression', 'cnn', False),
                   ('gan', 'unet', False)}
  with pytest.raises(ValueError, match='no variant .unet2.; use one of unet, classification'):
    photos_gpu.get_config('unet2')


def test_every_encoder_recipe_variant_passes_the_checks():
  photos_encoder = importlib.import_module('configs.photos_encoder')
  for variant in photos_encoder.VARIANTS:
    config = photos_encoder.get_config(variant)
    train.validate_config(config, 1)
    assert config.model.name == 'encoder_unet'
    assert config.hints.enabled == ('hints' in variant)
    assert (config.model.head == 'classification') == ('classification' in variant)
  # The fine-tune and the continued run start from their recipes' documented workdirs.
  assert photos_encoder.get_config('hints_finetune').init_from == 'runs/encoder_classification'
  assert photos_encoder.get_config('hints_continued').init_from == 'runs/encoder_hints'
  # The MSE head trained on the classification run's network holds out that run's
  # photos (the same folders, seed and neutral share), or it would be judged on
  # photos its encoder and decoder were trained on.
  mse, start = (photos_encoder.get_config(v) for v in ('unet_continued',
                                                       'classification_marathon_continued'))
  assert mse.init_from == 'runs/encoder_classification_marathon_continued'
  assert mse.model.head != start.model.head
  assert ((mse.data.folder, mse.data.eval_fractions, mse.data.eval_fraction, mse.seed)
          == (start.data.folder, start.data.eval_fractions, start.data.eval_fraction, start.seed))

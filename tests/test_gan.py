"""Adversarial training: the PatchGAN, the two-network step, its losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorjax import inference
from colorjax import parallel
from colorjax import tasks
from colorjax import train
from colorjax.errors import ConfigError
from colorjax.tasks import gan
from tests.conftest import photo_crops
from tests.test_train import _tiny_config


def test_patchgan_output_logits_see_70x70_patches():
  # Without normalisation: instance statistics span the whole image.
  disc = gan.PatchGAN(widths=(4, 8, 8, 8), norm=False)
  l = jnp.zeros((1, 160, 160, 1))
  ab = jnp.zeros((1, 160, 160, 2))
  params = disc.init(jax.random.key(0), l, ab)['params']
  assert disc.apply({'params': params}, l, ab).shape == (1, 18, 18, 1)
  # Which input pixels one interior output logit depends on.
  x = jax.random.normal(jax.random.key(1), (1, 160, 160, 3))
  grad = jax.grad(lambda x: disc.apply({'params': params}, x[..., :1], x[..., 1:])
                  [0, 9, 9, 0])(x)
  rows, cols = np.nonzero(np.abs(np.asarray(grad[0])).sum(-1))
  assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


@pytest.mark.parametrize('kind', gan.LOSSES)
def test_losses_reward_the_right_side(kind):
  high, low = jnp.full((4,), 3.0), jnp.full((4,), -3.0)
  # The discriminator is better off calling real real and fake fake...
  assert gan.discriminator_loss(high, low, kind) < gan.discriminator_loss(low, high, kind)
  # ...and the generator when its output is called real.
  assert gan.generator_loss(high, kind) < gan.generator_loss(low, kind)


def _gan_config(folder='', **overrides):
  return _tiny_config(folder, **{'gan.enabled': True, 'gan.disc_widths': (8, 8, 8, 8),
                                 **overrides})


def test_gan_step_updates_both_networks_and_reports_the_discriminator():
  config = _gan_config(**{'opt.warmup_steps': 0})  # A learning rate from step 0.
  mesh = parallel.make_mesh(1)
  model = train.create_model(config, axis_name=parallel.AXIS)
  state = tasks.of(config).create_state(config, jax.random.key(0), model)
  before = jax.tree.map(np.asarray, (state.params, state.disc_params))
  step = train.make_train_step(mesh, config)
  batch = parallel.shard_batch(mesh, {'rgb': np.stack(photo_crops(8, 32, 32))})
  state, metrics = step(state, batch, jax.random.key(1))
  assert int(state.step) == 1
  for old, new in zip(before, (state.params, state.disc_params)):
    changed = jax.tree.map(lambda a, b: not np.allclose(a, b), old, new)
    assert all(jax.tree.leaves(changed))
  metrics = jax.device_get(metrics)
  for key in ('loss', 'generator_adversarial', 'generator_l1', 'discriminator_loss',
              'discriminator_real', 'discriminator_fake', 'discriminator_grad_norm'):
    assert np.isfinite(metrics[key]), key
  assert metrics['loss'] == pytest.approx(
      metrics['generator_adversarial'] + 100 * metrics['generator_l1'], rel=1e-5)
  assert 0 < metrics['discriminator_real'] < 1


def test_discriminator_learns_to_tell_gray_from_colour():
  """With the generator's output fixed at gray (l1 weight 0, lr 0), the
  discriminator alone learns: its belief in real pairs rises above fakes."""
  config = _gan_config(**{'opt.learning_rate': 1e-9, 'gan.disc_learning_rate': 2e-3,
                          'opt.schedule': 'constant', 'gan.l1_weight': 0.0})
  mesh = parallel.make_mesh(1)
  state = tasks.of(config).create_state(
      config, jax.random.key(0), train.create_model(config, axis_name=parallel.AXIS))
  step = train.make_train_step(mesh, config)
  batch = parallel.shard_batch(mesh, {'rgb': np.stack(photo_crops(8, 32, 32, seed=3))})
  for _ in range(30):
    state, metrics = step(state, batch, jax.random.key(1))
  metrics = jax.device_get(metrics)
  assert metrics['discriminator_real'] > metrics['discriminator_fake'] + 0.2


def test_gan_needs_the_regression_head():
  with pytest.raises(ConfigError, match='config.gan.enabled needs'):
    train.validate_config(_gan_config(**{'model.head': 'classification'}), 1)


def test_generator_warm_start_takes_a_regression_run_of_the_same_network(tiny_run):
  from colorjax import checkpoint
  config = _gan_config(**{'gan.init_from': tiny_run})
  model = train.create_model(config, axis_name=parallel.AXIS)
  variables = tasks.of(config).warm_start(config, model, None)
  state = tasks.of(config).create_state(config, jax.random.key(0), model, variables)
  saved, _ = checkpoint.load(tiny_run)
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(saved['params'])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  other = _gan_config(**{'gan.init_from': tiny_run, 'model.widths': (4, 8)})
  with pytest.raises(ConfigError, match='holds another network'):
    tasks.of(other).warm_start(other, train.create_model(other), None)


def test_warm_start_trains_on_eight_devices(tiny_run, photo_folder, tmp_path):
  """The warm start's arrays join the 8-device mesh (checkpoint.load once put
  them on device 0 only, and the jitted state creation refused them)."""
  from colorjax import checkpoint
  config = _gan_config(photo_folder, **{
      'gan.init_from': tiny_run, 'num_train_steps': 1, 'opt.warmup_steps': 0,
      'opt.learning_rate': 1e-9, 'opt.schedule': 'constant'})
  state = train.train_and_evaluate(config, str(tmp_path / 'run'), mesh=parallel.make_mesh(8))
  assert int(state.step) == 1
  saved, _ = checkpoint.load(tiny_run)
  # One step at a learning rate of 1e-9 moves no parameter by more than 1e-8.
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(saved['params'])):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-6)


def test_gan_config_trains_end_to_end_and_logs_the_discriminator(tmp_path, photo_folder):
  from colorjax import checkpoint
  from tests.conftest import run_module, tiny_overrides
  workdir = str(tmp_path / 'run')
  result = run_module(['colorjax.main', '--config=configs/unet_gan.py',
                       *tiny_overrides(workdir, photo_folder, steps=2,
                                       **{'gan.disc_widths': (8, 8, 8, 8)})])
  assert 'step 2/2 | loss' in result.stderr and '| D loss ' in result.stderr
  assert ', real ' in result.stderr and ', fake ' in result.stderr
  state, config = checkpoint.load(workdir)
  assert config['gan']['enabled'] and 'disc_params' in state
  # Inference sees the generator only.
  model, variables, _ = inference.load_model(workdir)
  assert set(variables) == {'params', 'batch_stats'}
  out = model.apply(variables, jnp.zeros((1, 16, 16, 1)), train=False)
  assert out.shape == (1, 16, 16, 2)

"""The U-Net on a pretrained EfficientNet-Lite encoder (models.EncoderUNet):
its shape, its ImageNet start, the hint branch that leaves the encoder alone,
the encoder's own learning rate, and every task through the real entry points."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from colorjax import efficientnet
from colorjax import models
from colorjax import optim
from colorjax import parallel
from colorjax import tasks
from colorjax import train
from tests import test_scene_scale
from tests.conftest import photo_crops
from tests.conftest import run_module
from tests.conftest import tiny_config
from tests.conftest import tiny_overrides
from tests.conftest import write_photo_folder

SMALL = {'model.name': 'encoder_unet', 'model.decoder_widths': (8, 8, 8, 8, 8)}


def inference(model):
  """model.apply(variables, x, train=False), jitted: the encoder run op by op
  takes 18 s where its compiled program takes 3 (2 CPU cores)."""
  return jax.jit(functools.partial(model.apply, train=False))


def test_golden_parameter_count():
  variables = jax.eval_shape(lambda: models.EncoderUNet().init(
      jax.random.key(0), jnp.zeros((1, 64, 64, 1)), train=False))
  assert efficientnet.parameter_count(variables) == 3_768_466
  # The encoder is EfficientNet-Lite0 without its head and classifier.
  encoder = sum(x.size for x in jax.tree.leaves(variables['params']['encoder']))
  assert encoder == 4_652_008 - (320 * 1_280 + 2 * 1_280 + 1_280 * 1_000 + 1_000)


@pytest.mark.parametrize('height,width', [(17, 45)])
def test_any_input_size(height, width):
  model = models.EncoderUNet(decoder_widths=(8, 8, 8, 8, 8), num_logits=5)
  l = jax.random.uniform(jax.random.key(0), (2, height, width, 1), minval=-1)
  variables = jax.jit(lambda: model.init(jax.random.key(1), l, train=False))()
  logits = inference(model)(variables, l)
  assert logits.shape == (2, height, width, 5) and logits.dtype == jnp.float32


def test_a_fresh_run_starts_from_the_imagenet_encoder():
  config = tiny_config(**SMALL)
  model = train.create_model(config)
  variables = tasks.base.pretrained_start(config, model, jax.devices()[0])
  imagenet = efficientnet.pretrained_variables('lite0', num_classes=0)
  for collection in ('params', 'batch_stats'):
    jax.tree.map(np.testing.assert_array_equal, variables[collection]['encoder'],
                 imagenet[collection])
  config.model.encoder_weights = ''  # Random: no pretrained start.
  assert tasks.base.pretrained_start(config, model, jax.devices()[0]) is None


@pytest.mark.parametrize('branch', ['hint_decoder', 'hint_encoder'])
def test_an_automatic_encoder_unet_becomes_a_hint_network_that_computes_the_same(branch):
  """init_from's bridge (tasks.base.adapt_variables) into hints with the
  decoder's (or the encoder's) hint guide: the new branches start at zero,
  so any hints leave the automatic network's output unchanged until training."""
  automatic = models.EncoderUNet(decoder_widths=(8, 8, 8, 8, 8))
  hinted = models.EncoderUNet(decoder_widths=(8, 8, 8, 8, 8), **{branch: True})
  l = jax.random.uniform(jax.random.key(0), (2, 64, 64, 1), minval=-1)
  mask = (jax.random.uniform(jax.random.key(1), (2, 64, 64, 1)) < 0.05).astype(jnp.float32)
  hints = jnp.concatenate([l, jax.random.uniform(jax.random.key(2), (2, 64, 64, 2),
                                                 minval=-0.5, maxval=0.5) * mask, mask], -1)
  variables = jax.jit(lambda: automatic.init(jax.random.key(3), l, train=False))()
  fresh = jax.jit(lambda: hinted.init(jax.random.key(4), hints, train=False))()
  assert branch in fresh['params']
  adapted, changes = tasks.base.adapt_variables(variables, fresh)
  assert f'{branch} as initialised' in changes
  before, hinted_apply = inference(automatic)(variables, l), inference(hinted)
  np.testing.assert_allclose(hinted_apply(adapted, hints), before, rtol=1e-5, atol=1e-6)
  # Once trained, a hint reaches the decoder (or the encoder) at every level.
  nudged = jax.tree_util.tree_map_with_path(
      lambda path, x: x + 0.1 if branch in str(path) else x, adapted)
  assert not np.allclose(hinted_apply(nudged, hints), before)


@pytest.mark.parametrize('hint_encoder', [False, True])
def test_hints_leave_the_encoder_as_pretrained_at_the_start(hint_encoder):
  config = tiny_config(**SMALL, **{'hints.enabled': True, 'model.hint_encoder': hint_encoder})
  model = train.create_model(config)
  variables = tasks.base.pretrained_start(config, model, jax.devices()[0])
  l = jax.random.uniform(jax.random.key(0), (2, 32, 32, 1), minval=-1)
  hint_ab = jax.random.uniform(jax.random.key(1), (2, 32, 32, 2), minval=-0.5, maxval=0.5)
  mask = jax.random.bernoulli(jax.random.key(2), 0.1, (2, 32, 32, 1))

  @jax.jit
  def encoder_features(x):
    _, state = model.apply(variables, x, train=False, capture_intermediates=True,
                           mutable=['intermediates'])
    return state['intermediates']['encoder']['__call__'][0]

  without = encoder_features(jnp.concatenate([l, jnp.zeros_like(hint_ab), 0 * l], -1))
  hinted = encoder_features(jnp.concatenate([l, hint_ab * mask, mask.astype(l.dtype)], -1))
  plain = inference(efficientnet.EfficientNetLite('lite0', num_classes=0))(
      {k: v['encoder'] for k, v in variables.items()}, models.encoder_input(l))
  for a, b, c in zip(without, hinted, plain):
    np.testing.assert_array_equal(a, b)  # The hints do not reach the encoder at all...
    # ...which computes what EfficientNet alone does (the same function, compiled
    # in another program: measured up to 1.1e-5 apart on maps of order 1-10).
    np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-4)


def test_the_encoder_waits_then_learns_at_its_own_rate():
  config = tiny_config(**{'opt.encoder_frozen_steps': 3, 'opt.encoder_lr_scale': 0.25,
                          'opt.warmup_steps': 0, 'opt.schedule': 'constant'})
  tx = optim.create_optimizer(config, optim.learning_rate_schedule(config))
  params = {'encoder': {'w': jnp.ones(3)}, 'head': {'w': jnp.ones(3)}}
  grads = {'encoder': {'w': jnp.array([1.0, -2.0, 3.0])}, 'head': {'w': jnp.array([1.0, -2.0, 3.0])}}
  state = tx.init(params)
  for step in range(5):
    updates, state = tx.update(grads, state, params)
    if step < 3:
      np.testing.assert_array_equal(updates['encoder']['w'], 0.0)
    else:  # Adam's moments are the same for the same gradients: the update scales.
      np.testing.assert_allclose(updates['encoder']['w'], 0.25 * updates['head']['w'], rtol=1e-6)
    assert np.all(np.asarray(updates['head']['w']) != 0)


# The GAN's generator is the regression network, so the three cover every task.
@pytest.mark.parametrize('overrides', [
    {'model.head': 'classification'}, {'gan.enabled': True}, {'hints.enabled': True}])
def test_every_task_trains_the_encoder_unet(overrides):
  config = tiny_config(**SMALL, **{'opt.warmup_steps': 0, 'global_batch_size': 4, **overrides})
  mesh = parallel.make_mesh(1)
  task = tasks.of(config)
  model = train.create_model(config, axis_name=parallel.AXIS)
  warm = task.warm_start(config, model, parallel.replicated(mesh))
  state = jax.jit(lambda w: task.create_state(config, jax.random.key(0), model, w))(warm)
  before = jax.tree.map(np.asarray, state.params['encoder'])
  step = train.make_train_step(mesh, config)
  batch = parallel.shard_batch(mesh, {'rgb': np.stack(photo_crops(4, 32, 32))})
  state, metrics = step(state, batch, jax.random.key(1))
  assert np.isfinite(float(metrics['loss']))
  moved = jax.tree.map(lambda a, b: not np.array_equal(a, np.asarray(b)), before,
                       state.params['encoder'])
  assert any(jax.tree.leaves(moved))  # The encoder is trained, not only the decoder.


def test_train_tune_export_and_colorize_through_the_commands(tmp_path):
  """The encoder recipe's config through colorjax.main, colorjax.tune (its
  held-out photos, per-folder rule, export) and colorjax.colorize, and
  benchmarks/scene_scale.py on the run."""
  folder = str(tmp_path / 'photos')
  write_photo_folder(folder, 12)
  run = str(tmp_path / 'run')
  overrides = tiny_overrides(run, folder, steps=2, **{
      'model.decoder_widths': (8, 8, 8, 8, 8), 'global_batch_size': 4,
      'eval.batch_size': 4, 'classification.prior_images': 8})
  run_module(['colorjax.main', '--config=configs/photos_encoder.py:classification', *overrides])
  test_scene_scale.check_the_command(run, tmp_path)  # Its classification branch.
  export = str(tmp_path / 'export')
  tuned = run_module(['colorjax.tune', f'--checkpoint={run}', '--adjustments=0,1',
                      '--temperatures=0.38', '--min_folder_gain_db=-99',
                      '--folder_gains=photos:-99', f'--out={tmp_path / "tune"}',
                      f'--export={export}', '--resolution=32'])
  assert '2 settings on' in tuned.stdout and 'Exported' in tuned.stdout
  photo = os.path.join(folder, sorted(os.listdir(folder))[0])
  out = str(tmp_path / 'colorized')
  run_module(['colorjax.colorize', photo, f'--checkpoint={export}', f'--out={out}',
              '--resolution=32'])
  colorized = np.asarray(Image.open(os.path.join(out, os.listdir(out)[0])))
  assert colorized.shape == np.asarray(Image.open(photo)).shape

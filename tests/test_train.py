"""Training: learning, divergence, config errors and data-parallel equivalence."""


import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from colorjax import optim
from colorjax import parallel
from colorjax import reporting
from colorjax import tasks
from colorjax import train
from colorjax.errors import ConfigError
from colorjax.errors import TrainingDiverged
from tests.conftest import photo_crops
from tests.conftest import tiny_config
from tests.conftest import write_photo_folder


def _tiny_config(folder='', **overrides):
  """The suite's tiny run (conftest.TINY), 6 steps, a checkpoint every 2."""
  return tiny_config(folder, steps=6, **{'checkpoint_every_steps': 2, **overrides})


@pytest.mark.parametrize('model_name,loss', [('unet', 'mse'), ('cnn', 'l1')])
def test_tiny_model_overfits_one_batch(model_name, loss):
  config = _tiny_config(**{
      'model.name': model_name, 'model.widths': (16, 32),
      'model.bottleneck': 32, 'model.cnn_channels': (32, 32, 32), 'loss': loss,
      'opt.schedule': 'constant', 'opt.learning_rate': 3e-3,
      'num_train_steps': 150})
  mesh = parallel.make_mesh(1)
  model = train.create_model(config, axis_name=parallel.AXIS)
  state = tasks.of(config).create_state(config, jax.random.key(0), model)
  step = train.make_train_step(mesh, config)
  batch = parallel.shard_batch(mesh, {'rgb': np.stack(photo_crops(4, 32, 32))})
  losses = []
  for _ in range(config.num_train_steps):
    state, metrics = step(state, batch, jax.random.key(1))
    losses.append(float(metrics['loss']))
  # It learns: the loss falls by a clear margin (measured 2026-11-26 on 2 CPU
  # cores, three initialisations: 7.0x-10x for the CNN with L1, 350x-420x for
  # the U-Net with MSE, so 3x leaves room for other CPUs and versions)...
  losses = np.asarray(losses)
  assert np.isfinite(losses).all()
  assert losses[-10:].mean() < losses[0] / 3, losses[::15]
  # ...and is still falling at the end: the last quarter's mean is below the
  # second quarter's (measured 1.5x-4.0x lower).
  assert losses[-37:].mean() < losses[37:74].mean(), losses[::15]


def test_learning_rate_schedules():
  config = _tiny_config(**{'num_train_steps': 100, 'opt.warmup_steps': 10,
                           'opt.learning_rate': 1e-3, 'opt.schedule': 'cosine'})
  cosine = optim.learning_rate_schedule(config)
  assert float(cosine(0)) == 0 and float(cosine(10)) == pytest.approx(1e-3)
  assert float(cosine(100)) == pytest.approx(1e-5)
  config.opt.schedule = 'constant'
  constant = optim.learning_rate_schedule(config)
  assert float(constant(5)) == pytest.approx(5e-4)
  assert float(constant(99)) == pytest.approx(1e-3)


@pytest.mark.parametrize('override,message', [
    ({'model.name': 'resnet'}, "config.model.name must be one of ['cnn', 'encoder_unet', 'unet']"),
    ({'model.norm': 'layer'}, 'config.model.norm must be one of'),
    ({'loss': 'huber'}, 'config.loss must be one of'),
    ({'opt.schedule': 'step'}, 'config.opt.schedule must be one of'),
    ({'num_train_steps': 0}, 'config.num_train_steps must be positive'),
    ({'opt.learning_rate': -1.0}, 'config.opt.learning_rate must be positive'),
    ({'opt.warmup_steps': 6}, 'config.opt.warmup_steps (6) must be'),
    ({'data.image_size': 4}, 'config.data.image_size must be at least 8'),
    ({'hints.placement': 'edges'}, "config.hints.placement must be one of ('centre', 'uniform')"),
    ({'global_batch_size': 12}, 'config.global_batch_size (12) must be a positive multiple of the device count (8)'),
    ({'eval.batch_size': 0}, 'config.eval.batch_size (0) must be a positive multiple'),
    ({'log_every_steps': -1}, 'config.log_every_steps must be 0 (last step only) or positive'),
    ({'eval_every_steps': -2}, 'config.eval_every_steps must be 0 (last step only), -1 (never) '
                               'or positive'),
])
def test_bad_config_values_name_the_field(override, message):
  with pytest.raises(ConfigError) as error:
    train.validate_config(_tiny_config(**override), device_count=8)
  assert message in str(error.value)


def test_valid_config_passes_validation():
  train.validate_config(_tiny_config(), device_count=8)


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
  folder = str(tmp_path / 'photos')
  write_photo_folder(folder, 16)
  workdir = str(tmp_path / 'run')
  config = _tiny_config(folder, **{
      'model.name': 'cnn', 'model.cnn_channels': (8, 8), 'num_train_steps': 30,
      'opt.schedule': 'constant', 'opt.learning_rate': 1e30,
      'checkpoint_every_steps': 1, 'log_every_steps': 1})
  with pytest.raises(TrainingDiverged) as error:
    train.train_and_evaluate(config, workdir)
  message = str(error.value)
  assert 'The loss became nan' in message and 'is intact' in message
  mngr = ocp.CheckpointManager(f'{workdir}/checkpoints')
  last = mngr.latest_step()
  assert f'last good checkpoint (step {last})' in message
  restored = ocp.StandardCheckpointer().restore(f'{workdir}/checkpoints/{last}/state')
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(restored['params']))


def test_tfds_source_trains_end_to_end_under_mock_data(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  # mock_data stands in for reading; preparing is tests/test_prepare.py's.
  config = _tiny_config(**{'data.source': 'tfds', 'data.tfds_name': 'cifar10',
                           'data.tfds_download': False,
                           'num_train_steps': 2, 'eval_every_steps': 2})
  with tfds.testing.mock_data(num_examples=16):
    state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 2
  evals = (tmp_path / 'eval_metrics.jsonl').read_text().splitlines()
  assert len(evals) == 1 and '"psnr"' in evals[0]


def test_eval_every_steps_minus_one_trains_without_evaluating(tmp_path):
  # For a run that colorjax.evaluate scores afterwards (launch/seed_table.sh).
  folder = str(tmp_path / 'photos')
  write_photo_folder(folder, 8)
  config = _tiny_config(folder, **{'num_train_steps': 2, 'eval_every_steps': -1})
  state = train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert int(state.step) == 2
  assert not (tmp_path / 'run' / 'eval_metrics.jsonl').exists()
  assert (tmp_path / 'run' / 'checkpoints' / '2').is_dir()


def test_on_device_data_trains_to_the_same_parameters_as_the_host_pipeline(tmp_path):
  folder = str(tmp_path / 'photos')
  write_photo_folder(folder, 16)  # All 40 x 48.
  states = []
  for on_device in (False, True):
    config = _tiny_config(folder, **{'data.on_device': on_device, 'data.cache': False,
                                     'num_train_steps': 3})
    states.append(train.train_and_evaluate(config, str(tmp_path / f'run_{on_device}')))
  for a, b in zip(jax.tree.leaves(states[0].params), jax.tree.leaves(states[1].params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_durations_show_days_instead_of_wrapping():
  assert reporting.format_duration(0) == '00:00:00'
  assert reporting.format_duration(3_661) == '01:01:01'
  assert reporting.format_duration(90_000) == '1d 01:00:00'  # Not 01:00:00.
  assert reporting.format_duration(3 * 86_400 + 59.6) == '3d 00:01:00'


def test_images_per_second_count_training_steps_only(tmp_path, monkeypatch, caplog):
  """The first step (compilation) and paused blocks (evaluation, checkpoints)
  are left out of the rate and the ETA."""
  now = [1000.0]
  monkeypatch.setattr(reporting.time, 'time', lambda: now[0])
  reporter = reporting.Reporter(str(tmp_path), total_steps=1_000_003, batch_size=8)  # pylint: disable=protected-access
  ready = np.zeros(1)
  now[0] += 300  # The first step compiles for 5 minutes...
  reporter.start_clock(1, ready)  # ...and the clock starts after it.
  with caplog.at_level('INFO'):
    reporter.train(1, {'loss': 1.0})
    now[0] += 1.0  # Step 2 trains for a second,
    with reporter.paused(ready):
      now[0] += 500  # an evaluation takes 500 s,
    now[0] += 1.0  # step 3 trains for a second.
    reporter.train(3, {'loss': 0.5})
  reporter.close()
  lines = [r.getMessage() for r in caplog.records if 'step ' in r.getMessage()]
  assert 'step 1/1000003 | loss 1.00000 | first step (compiling)' in lines[0]
  # 2 steps of 8 images in 2 s; 1,000,000 steps left at 8 img/s: 11.6 days.
  assert lines[1].endswith('| 8.0 img/s | ETA 11d 13:46:40'), lines[1]


def test_the_cpu_step_is_compiled_with_the_memory_optimised_schedule():
  config = _tiny_config(**{'model.name': 'unet', 'model.widths': (16, 32),
                           'model.bottleneck': 32})
  mesh = parallel.make_mesh(1)
  options = parallel.step_compiler_options(mesh)
  assert options == {'xla_cpu_scheduler_type': 'CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED'}
  model = train.create_model(config, axis_name=parallel.AXIS)
  state = tasks.of(config).create_state(config, jax.random.key(0), model)
  batch = parallel.shard_batch(mesh, {'rgb': np.stack(photo_crops(2, 32, 32))})
  step = train.make_train_step(mesh, config)
  # This jaxlib knows the option (an unknown one or value fails the
  # compilation), and the step runs with it.
  _, metrics = step(state, batch, jax.random.key(1))
  assert np.isfinite(float(metrics['loss']))

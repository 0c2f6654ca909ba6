"""The training entry point end to end, as a user runs it."""

import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from colorjax import checkpoint
from colorjax import errors
from colorjax import parallel
from colorjax import sources
from colorjax import train

from tests.conftest import REPO
from tests.conftest import run_module
from tests.conftest import tiny_config
from tests.conftest import tiny_overrides


def _state(workdir, step):
  """The train state a run saved at `step`, as a dict of arrays."""
  return checkpoint.load(os.path.join(workdir, 'checkpoints', str(step)))[0]


def _assert_same_state(a, b, atol=0.0):
  leaves_a, tree_a = jax.tree.flatten(a)
  leaves_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=atol)


def test_quickstart_style_run_writes_checkpoint_metrics_and_grid(tmp_path, photo_folder):
  workdir = str(tmp_path / 'run')
  result = run_module(['colorjax.main', '--config=configs/quickstart.py',
                       *tiny_overrides(workdir, photo_folder, steps=4,
                                       **{'eval_every_steps': 2,
                                          'checkpoint_every_steps': 2,
                                          'image_grid_size': 64})])
  assert 'step 4/4 | loss' in result.stderr and 'img/s' in result.stderr
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2', '4']
  lines = open(os.path.join(workdir, 'eval_metrics.jsonl')).read().splitlines()
  evals = [json.loads(line) for line in lines]
  assert [e['step'] for e in evals] == [2, 4]
  assert {'mse_ab', 'psnr', 'ssim', 'gray_psnr', 'gray_ssim'} <= set(evals[-1])
  assert evals[0]['gray_psnr'] == evals[1]['gray_psnr']  # The baseline does not train.
  logged = [json.loads(line) for line in
            open(os.path.join(workdir, 'train_metrics.jsonl')).read().splitlines()]
  assert [m['step'] for m in logged] == [2, 4] and np.isfinite(logged[-1]['loss'])
  assert 0 < evals[-1]['psnr'] < 60 and 0 < evals[-1]['ssim'] <= 1
  from PIL import Image
  grid = np.asarray(Image.open(os.path.join(workdir, 'images', 'step_0000004.png')))
  # One row per eval image (fewer than the grid size and the eval batch):
  # the padding of the last batch never shows.
  num_eval = len(sources.folder_split(photo_folder, 'eval', 0.25, 0))
  assert 0 < num_eval < 8
  assert grid.shape == (num_eval * 32, 3 * 32, 3)
  assert grid.reshape(num_eval, -1).max(axis=1).min() > 0
  assert any(f.startswith('events.out.tfevents') for f in os.listdir(workdir))


def test_rerunning_the_command_resumes_and_default_workdir(tmp_path, photo_folder):
  def command(steps):  # No --workdir: the user's own command.
    flags = tiny_overrides('', photo_folder, steps=steps,
                           **{'checkpoint_every_steps': 2})
    return ['colorjax.main', f'--config={REPO}/configs/quickstart.py',
            *[f for f in flags if not f.startswith('--workdir')]]
  run_module(command(2), cwd=tmp_path)
  workdir = tmp_path / 'runs' / 'quickstart'
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2']
  result = run_module(command(4), cwd=tmp_path)
  assert 'Resuming from step 2' in result.stderr
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2', '4']


# Each kind of training colorjax has: its config file and what the tiny run
# changes beyond conftest.TINY. test_gan and test_classification run the same
# configs, so the suite compiles each kind's programs once.
VARIANTS = {
    'regression': ('quickstart', {}),
    'gan': ('unet_gan', {'gan.disc_widths': (8, 8, 8, 8)}),
    'classification': ('unet_classification', {'classification.prior_images': 4}),
    'hints': ('quickstart', {'hints.enabled': True}),
}


def _command(variant, workdir, folder, steps):
  name, overrides = VARIANTS[variant]
  return ['colorjax.main', f'--config=configs/{name}.py',
          *tiny_overrides(workdir, folder, steps=steps, **overrides)]


# Runs colorjax.main as a user would, but the process kills itself with
# SIGKILL as soon as the save of step KILL_AFTER has started (orbax writes
# asynchronously, so the kill lands in the middle of that save). A fixed point,
# not a race: the run can never finish before the kill.
_KILLED_MAIN = """
import os, signal, sys
from absl import app
from colorjax import checkpoint, main
save = checkpoint.save
def save_then_die(mngr, step, *args, **kwargs):
  save(mngr, step, *args, **kwargs)
  if step == int(os.environ['KILL_AFTER']):
    os.kill(os.getpid(), signal.SIGKILL)
checkpoint.save = save_then_die
sys.argv[0] = 'colorjax.main'
app.run(main.main)
"""


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_killed_run_resumes_to_the_same_parameters(tmp_path, photo_folder, variant):
  steps = 12
  killed = str(tmp_path / 'killed')
  command = _command(variant, killed, photo_folder, steps)
  env = dict(os.environ, PYTHONPATH=REPO, KILL_AFTER='8')
  process = subprocess.run([sys.executable, '-c', _KILLED_MAIN, *command[1:]],
                           cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=600)
  assert process.returncode == -signal.SIGKILL, process.stderr[-3000:]
  steps_saved = sorted(int(s) for s in os.listdir(os.path.join(killed, 'checkpoints'))
                       if s.isdigit())
  assert steps_saved and steps_saved[-1] in (4, 8)  # 8 only if its save completed.

  result = run_module(command)
  assert f'Resuming from step {steps_saved[-1]}' in result.stderr

  uninterrupted = str(tmp_path / 'uninterrupted')
  run_module(_command(variant, uninterrupted, photo_folder, steps))
  _assert_same_state(_state(killed, steps), _state(uninterrupted, steps))


# Runs colorjax.main as a user would, but the train step sends the process
# SIGTERM (as `timeout` or a scheduler's preemption would) while it computes
# step TERM_AT: a fixed point, so the stop's step is known.
_TERMINATED_MAIN = """
import os, signal, sys
from absl import app
from colorjax import main, train
make = train.make_train_step
def make_terminating(*args, **kwargs):
  step, calls = make(*args, **kwargs), []
  def terminating(*step_args):
    calls.append(None)
    if len(calls) == int(os.environ['TERM_AT']):
      os.kill(os.getpid(), signal.SIGTERM)
    return step(*step_args)
  return terminating
train.make_train_step = make_terminating
sys.argv[0] = 'colorjax.main'
main.cli()
"""


def test_sigterm_saves_the_step_and_the_rerun_resumes_to_the_same_parameters(
    tmp_path, photo_folder):
  steps = 12
  stopped = str(tmp_path / 'stopped')
  command = _command('regression', stopped, photo_folder, steps)
  env = dict(os.environ, PYTHONPATH=REPO, TERM_AT='6')
  process = subprocess.run([sys.executable, '-c', _TERMINATED_MAIN, *command[1:]],
                           cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=600)
  assert process.returncode == 1, process.stderr[-3000:]
  assert 'stopped on SIGTERM after step 6 of 12' in process.stderr
  assert 'run the same command again to resume' in process.stderr
  # Step 4 by the schedule, step 6 by the stop; nothing after it ran.
  assert sorted(os.listdir(os.path.join(stopped, 'checkpoints'))) == ['4', '6']

  result = run_module(command)
  assert 'Resuming from step 6' in result.stderr
  uninterrupted = str(tmp_path / 'uninterrupted')
  run_module(_command('regression', uninterrupted, photo_folder, steps))
  _assert_same_state(_state(stopped, steps), _state(uninterrupted, steps))


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_eight_devices_give_the_same_parameters_as_one(tmp_path, photo_folder, variant):
  one, eight = str(tmp_path / 'one'), str(tmp_path / 'eight')
  run_module(_command(variant, one, photo_folder, 2))  # A process with one device.
  name, overrides = VARIANTS[variant]
  train.train_and_evaluate(tiny_config(photo_folder, 2, name, **overrides), eight,
                           mesh=parallel.make_mesh(8))  # This process's eight.
  states = {1: _state(one, 2), 8: _state(eight, 2)}
  # The same global batch: only the order of float reductions differs.
  _assert_same_state(states[8]['params'], states[1]['params'], atol=2e-5)
  _assert_same_state(states[8]['batch_stats'], states[1]['batch_stats'], atol=1e-5)
  if variant == 'gan':
    _assert_same_state(states[8]['disc_params'], states[1]['disc_params'], atol=2e-5)
  assert not np.allclose(states[1]['params']['head']['kernel'], 0)


def test_user_mistakes_exit_non_zero_with_one_clear_sentence(tmp_path, photo_folder):
  cases = [
      (['--config.global_batch_size=0'], 'config.global_batch_size (0) must be a positive multiple'),
      (['--config.data.folder=/no/such/folder'], "The image folder '/no/such/folder' does not exist"),
      (['--config.model.name=resnet'], 'config.model.name must be one of'),
  ]
  for extra, message in cases:
    result = run_module(['colorjax.main', '--config=configs/quickstart.py',
                         *tiny_overrides(str(tmp_path / 'bad'), photo_folder), *extra],
                        check=False)
    assert result.returncode == 1, result.stderr[-2000:]
    error_lines = [l for l in result.stderr.splitlines() if l.startswith('error: ')]
    assert len(error_lines) == 1 and message in error_lines[0], result.stderr[-2000:]
    assert 'Traceback' not in result.stderr


def test_a_second_run_in_a_busy_workdir_stops_with_one_clear_sentence(tmp_path, photo_folder):
  workdir = str(tmp_path / 'busy')
  with checkpoint.workdir_lock(workdir):  # This process trains there.
    result = run_module(['colorjax.main', '--config=configs/quickstart.py',
                         *tiny_overrides(workdir, photo_folder)], check=False)
    assert result.returncode == 1, result.stderr[-2000:]
    error_lines = [l for l in result.stderr.splitlines() if l.startswith('error: ')]
    assert len(error_lines) == 1, result.stderr[-2000:]
    assert f'process {os.getpid()} on ' in error_lines[0]
    assert f'is training in {workdir}' in error_lines[0]
    assert not os.path.exists(os.path.join(workdir, 'checkpoints'))
    with pytest.raises(errors.WorkdirBusy, match='pass another --workdir'):
      with checkpoint.workdir_lock(workdir):
        pass
  with checkpoint.workdir_lock(workdir):  # Released with its holder.
    pass

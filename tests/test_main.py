"""The training entry point end to end, as a user runs it."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from colorjax import checkpoint
from colorjax import input_pipeline

from tests.conftest import REPO
from tests.conftest import run_module
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
                                       **{'config.eval_every_steps': 2,
                                          'config.checkpoint_every_steps': 2,
                                          'config.image_grid_size': 64})])
  assert 'step 4/4 | loss' in result.stderr and 'img/s' in result.stderr
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2', '4']
  lines = open(os.path.join(workdir, 'eval_metrics.jsonl')).read().splitlines()
  evals = [json.loads(line) for line in lines]
  assert [e['step'] for e in evals] == [2, 4]
  assert {'mse_ab', 'psnr', 'ssim', 'gray_psnr', 'gray_ssim'} <= set(evals[-1])
  assert evals[0]['gray_psnr'] == evals[1]['gray_psnr']  # The baseline does not train.
  assert 0 < evals[-1]['psnr'] < 60 and 0 < evals[-1]['ssim'] <= 1
  from PIL import Image
  grid = np.asarray(Image.open(os.path.join(workdir, 'images', 'step_0000004.png')))
  # One row per eval image (fewer than the grid size and the eval batch):
  # the padding of the last batch never shows.
  num_eval = len(input_pipeline.folder_split(photo_folder, 'eval', 0.25, 0))
  assert 0 < num_eval < 8
  assert grid.shape == (num_eval * 32, 3 * 32, 3)
  assert grid.reshape(num_eval, -1).max(axis=1).min() > 0
  assert any(f.startswith('events.out.tfevents') for f in os.listdir(workdir))


def test_rerunning_the_command_resumes_and_default_workdir(tmp_path, photo_folder):
  def command(steps):  # No --workdir: the user's own command.
    flags = tiny_overrides('', photo_folder, steps=steps,
                           **{'config.checkpoint_every_steps': 2})
    return ['colorjax.main', f'--config={REPO}/configs/quickstart.py',
            *[f for f in flags if not f.startswith('--workdir')]]
  run_module(command(2), cwd=tmp_path)
  workdir = tmp_path / 'runs' / 'quickstart'
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2']
  result = run_module(command(4), cwd=tmp_path)
  assert 'Resuming from step 2' in result.stderr
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2', '4']


# Flags that turn a tiny run into each kind of training colorjax has.
VARIANTS = {
    'regression': {},
    'gan': {'config.gan.enabled': True, 'config.gan.disc_widths': '(8,8,8,8)'},
    'classification': {'config.model.head': 'classification',
                       'config.classification.prior_images': 4},
}


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_killed_run_resumes_to_the_same_parameters(tmp_path, photo_folder, variant):
  steps = 12
  uninterrupted = str(tmp_path / 'uninterrupted')
  run_module(['colorjax.main', '--config=configs/quickstart.py',
              *tiny_overrides(uninterrupted, photo_folder, steps=steps,
                              **VARIANTS[variant])])

  killed = str(tmp_path / 'killed')
  args = ['colorjax.main', '--config=configs/quickstart.py',
          *tiny_overrides(killed, photo_folder, steps=steps, **VARIANTS[variant])]
  env = dict(os.environ, PYTHONPATH=REPO)
  process = subprocess.Popen([sys.executable, '-m', *args], cwd=REPO, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  marker = os.path.join(killed, 'checkpoints', '8', 'commit_success.txt')
  deadline = time.time() + 300
  while not os.path.exists(marker) and process.poll() is None and time.time() < deadline:
    time.sleep(0.05)
  process.send_signal(signal.SIGKILL)
  process.wait()
  steps_saved = sorted(int(s) for s in os.listdir(os.path.join(killed, 'checkpoints'))
                       if s.isdigit())
  assert steps_saved[-1] < steps, 'the run finished before it could be killed'

  result = run_module(args)
  assert f'Resuming from step {steps_saved[-1]}' in result.stderr
  _assert_same_state(_state(killed, steps), _state(uninterrupted, steps))


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_eight_devices_give_the_same_parameters_as_one(tmp_path, photo_folder, variant):
  states = {}
  for devices in (1, 8):
    workdir = str(tmp_path / f'devices{devices}')
    flags = '--xla_force_host_platform_device_count=8' if devices == 8 else ''
    result = run_module(['colorjax.main', '--config=configs/quickstart.py',
                         *tiny_overrides(workdir, photo_folder, steps=2,
                                         **VARIANTS[variant])],
                        env={'XLA_FLAGS': flags})
    assert result.stderr.count('CpuDevice') == devices
    states[devices] = _state(workdir, 2)
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

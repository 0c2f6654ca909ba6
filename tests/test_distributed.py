"""Multi-process training on CPU: 2 processes x 2 devices against 1 x 1."""

import os
import subprocess
import sys

import jax
import numpy as np

from colorjax import checkpoint
from tests.conftest import REPO
from tests.conftest import free_port
from tests.conftest import run_module
from tests.conftest import tiny_overrides


def _cluster(processes, devices, flags, timeout=600):
  env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=REPO)
  return subprocess.run(
      ['bash', os.path.join(REPO, 'launch', 'cpu_cluster.sh'), str(processes),
       str(devices), 'configs/quickstart.py', *flags],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _params(workdir, step):
  return checkpoint.load(os.path.join(workdir, 'checkpoints', str(step)))[0]


def test_two_processes_match_one_process_and_hand_over_their_checkpoint(tmp_path, photo_folder):
  two = str(tmp_path / 'two_processes')
  result = _cluster(2, 2, tiny_overrides(two, photo_folder, steps=4))
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Joined the distributed run as process 0 of 2' in result.stderr
  # Only process 0 logs progress.
  assert result.stderr.count('step 4/4 | loss') == 1

  # The same global batch in one process on one device.
  one = str(tmp_path / 'one_process')
  run_module(['colorjax.main', '--config=configs/quickstart.py',
              *tiny_overrides(one, photo_folder, steps=4)])
  a, b = _params(two, 4), _params(one, 4)
  for key in ('params', 'batch_stats'):
    for x, y in zip(jax.tree.leaves(a[key]), jax.tree.leaves(b[key])):
      np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=2e-5)

  # The two-process checkpoint resumes in one process on one device.
  result = run_module(['colorjax.main', '--config=configs/quickstart.py',
                       *tiny_overrides(two, photo_folder, steps=6)])
  assert 'Resuming from step 4' in result.stderr
  assert int(_params(two, 6)['step']) == 6


# The two failures below must end on their own: with a 3-5 s timeout asked
# for, a command still running after 5 minutes (JAX's own default wait) fails
# the test by subprocess.TimeoutExpired. No wall-clock time is asserted.


def test_unreachable_coordinator_is_a_clear_error_in_bounded_time(tmp_path, photo_folder):
  result = run_module(['colorjax.main', '--config=configs/quickstart.py',
                       *tiny_overrides(str(tmp_path / 'run'), photo_folder),
                       f'--coordinator_address=127.0.0.1:{free_port()}',
                       '--num_processes=2', '--process_id=1',
                       '--distributed_timeout=3'], check=False, timeout=300)
  assert result.returncode == 1
  assert 'could not be reached' in result.stderr and 'Traceback' not in result.stderr


def test_wrong_process_count_is_a_clear_error_in_bounded_time(tmp_path, photo_folder):
  result = _cluster(2, 1, [*tiny_overrides(str(tmp_path / 'run'), photo_folder),
                           '--num_processes=3', '--distributed_timeout=5'], timeout=300)
  assert result.returncode == 1
  assert 'not every process joined the distributed run within 5 s' in result.stderr


def test_incomplete_distributed_flags_are_a_clear_error(tmp_path, photo_folder):
  result = run_module(['colorjax.main', '--config=configs/quickstart.py',
                       *tiny_overrides(str(tmp_path / 'run'), photo_folder),
                       '--num_processes=2'], check=False)
  assert result.returncode == 1
  assert 'needs all of --coordinator_address, --num_processes and --process_id' in result.stderr


def test_one_slurm_task_per_node_uses_every_gpu_of_the_node(monkeypatch):
  from colorjax import distributed
  monkeypatch.setenv('SLURM_STEP_TASKS_PER_NODE', '1(x4)')
  monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '0,1,2,3,4,5,6,7')
  assert distributed._slurm_local_device_ids() == list(range(8))
  monkeypatch.delenv('CUDA_VISIBLE_DEVICES')
  monkeypatch.setenv('SLURM_GPUS_ON_NODE', '4')
  assert distributed._slurm_local_device_ids() == [0, 1, 2, 3]
  monkeypatch.setenv('SLURM_STEP_TASKS_PER_NODE', '8(x2)')  # One task per GPU:
  assert distributed._slurm_local_device_ids() is None  # JAX's default is right.

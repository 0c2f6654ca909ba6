"""Checkpoints that survive faults: a run whose newest checkpoint is cut or
corrupt resumes from the newest one that restores and ends where an
uninterrupted run ends; a save that fails on a full disk stops the run with
one sentence and leaves the previous checkpoint to resume from."""

import errno
import glob
import os
import shutil

import jax
import numpy as np
import pytest

from colorjax import checkpoint
from colorjax import parallel
from colorjax import train
from colorjax.errors import CheckpointError
from tests.conftest import tiny_config
from tests.conftest import write_photo_folder


def _config(folder, steps):
  return tiny_config(folder, steps=steps, **{'checkpoint_every_steps': 2})


def _train(folder, workdir, steps):
  return train.train_and_evaluate(_config(folder, steps), workdir, mesh=parallel.make_mesh(1))


def _state(workdir, step):
  return checkpoint.load(os.path.join(workdir, 'checkpoints', str(step)))[0]


def _assert_same(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """Photos, a run stopped after 6 steps (checkpoints 2, 4, 6) and the same
  run uninterrupted to 8."""
  root = tmp_path_factory.mktemp('faults')
  folder = str(root / 'photos')
  write_photo_folder(folder, 12)
  _train(folder, str(root / 'six'), 6)
  _train(folder, str(root / 'eight'), 8)
  return folder, str(root / 'six'), _state(str(root / 'eight'), 8)


def _files(step_dir):
  return [f for f in glob.glob(os.path.join(step_dir, 'state', '**'), recursive=True)
          if os.path.isfile(f)]


def _delete_arrays(step_dir):
  for f in _files(step_dir):
    if os.sep + 'd' + os.sep in f:
      os.remove(f)


def _truncate_largest(step_dir):
  largest = max(_files(step_dir), key=os.path.getsize)
  with open(largest, 'r+b') as f:
    f.truncate(os.path.getsize(largest) // 2)


def _garbage_metadata(step_dir):
  with open(os.path.join(step_dir, 'state', '_METADATA'), 'wb') as f:
    f.write(os.urandom(64))


def _no_metadata(step_dir):
  for f in glob.glob(os.path.join(step_dir, '**', '*METADATA*'), recursive=True):
    os.remove(f) if os.path.isfile(f) else shutil.rmtree(f)


@pytest.mark.parametrize('fault', [_delete_arrays, _truncate_largest, _garbage_metadata,
                                   _no_metadata])
def test_a_corrupt_newest_checkpoint_is_skipped_and_the_run_resumes_exactly(
    runs, tmp_path, fault, caplog):
  folder, six, uninterrupted = runs
  workdir = str(tmp_path / 'run')
  shutil.copytree(six, workdir)
  fault(os.path.join(workdir, 'checkpoints', '6'))
  with caplog.at_level('WARNING'):
    _train(folder, workdir, 8)
  skipped = 'The checkpoint of step 6' in caplog.text
  if skipped:  # Resumed from step 4; the faulty step was moved aside, not lost.
    assert 'resumed from step 4' in caplog.text
    assert os.path.isdir(os.path.join(workdir, 'checkpoints', 'corrupt_6'))
  _assert_same(_state(workdir, 8), uninterrupted)


def test_the_faults_really_break_a_checkpoint(runs, tmp_path):
  """At least the deleted and truncated arrays cannot be restored: the
  fallback above is exercised, not only the happy path."""
  folder, six, _ = runs
  for fault in (_delete_arrays, _truncate_largest):
    workdir = str(tmp_path / fault.__name__)
    shutil.copytree(six, workdir)
    fault(os.path.join(workdir, 'checkpoints', '6'))
    _train(folder, workdir, 6)  # Nothing left to train: only the restore runs.
    assert os.path.isdir(os.path.join(workdir, 'checkpoints', 'corrupt_6')), fault.__name__


def test_no_checkpoint_that_restores_is_one_sentence_naming_the_folder(runs, tmp_path):
  folder, six, _ = runs
  workdir = str(tmp_path / 'run')
  shutil.copytree(six, workdir)
  for step in (2, 4, 6):
    _delete_arrays(os.path.join(workdir, 'checkpoints', str(step)))
  with pytest.raises(CheckpointError, match='No checkpoint in .*checkpoints restores'):
    _train(folder, workdir, 8)
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2', '4', '6']


def test_a_full_disk_stops_the_run_and_the_rerun_resumes_exactly(runs, tmp_path, monkeypatch):
  folder, _, uninterrupted = runs
  workdir = str(tmp_path / 'run')
  save = checkpoint.save

  def full_at_four(mngr, step, *args, **kwargs):
    if step == 4:
      raise OSError(errno.ENOSPC, 'No space left on device')
    return save(mngr, step, *args, **kwargs)

  monkeypatch.setattr(checkpoint, 'save', full_at_four)
  with pytest.raises(CheckpointError, match='the disk is full; the checkpoint of step 2 is intact'):
    _train(folder, workdir, 8)
  monkeypatch.setattr(checkpoint, 'save', save)
  _train(folder, workdir, 8)
  _assert_same(_state(workdir, 8), uninterrupted)

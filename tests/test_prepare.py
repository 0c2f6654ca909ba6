"""TFDS datasets prepared on first use, without network: a TFDS dataset of
the suite's own (`tests/tfds_toy.py`) whose URL fetch is replaced by a copy
of a local file, run in fresh processes as training would."""

import os
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds

from colorjax import prepare
from colorjax import sources
from colorjax.errors import DataError
from tests import tfds_toy
from tests.conftest import REPO

_PROGRAM = """
import sys
from absl import logging
logging.set_verbosity(logging.INFO)
from tests import tfds_toy
tfds_toy.install(sys.argv[1], sys.argv[2])
from colorjax import sources
source = sources.tfds_split(tfds_toy.NAME, 'train', sys.argv[3], download=True)
print('examples', len(source), source.load(0).shape)
"""


def _start(tmp_path, **env):
  archive = tmp_path / 'toy_photos.npz'
  if not archive.exists():
    tfds_toy.write_archive(str(archive))
  return subprocess.Popen(
      [sys.executable, '-c', _PROGRAM, str(archive), str(tmp_path / 'fetches.log'),
       str(tmp_path / 'tfds')],
      cwd=REPO, env={**os.environ, 'PYTHONPATH': REPO, **env},
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process):
  out, err = process.communicate(timeout=300)
  return process.returncode, out, err


def _fetches(tmp_path) -> int:
  log = tmp_path / 'fetches.log'
  return len(log.read_text().splitlines()) if log.exists() else 0


def test_the_first_start_prepares_and_the_next_reads(tmp_path):
  code, out, err = _finish(_start(tmp_path))
  assert code == 0, err[-2000:]
  assert 'examples 12 (16, 16, 3)' in out
  assert 'Preparing the TFDS dataset colorjax_toy_photos' in err
  assert _fetches(tmp_path) == 1
  code, out, err = _finish(_start(tmp_path))
  assert code == 0 and 'examples 12 (16, 16, 3)' in out
  assert 'Preparing' not in err and _fetches(tmp_path) == 1


def test_a_preparation_killed_half_way_is_redone(tmp_path):
  code, _, err = _finish(_start(tmp_path, TOY_DIE_AT='5'))
  assert code == 3, err[-2000:]  # Killed while writing the train split.
  with pytest.raises(DataError):  # Nothing half-written counts as the dataset.
    sources.tfds_split(tfds_toy.NAME, 'train', str(tmp_path / 'tfds'), download=False)
  code, out, err = _finish(_start(tmp_path))
  assert code == 0, err[-2000:]
  assert 'examples 12 (16, 16, 3)' in out and _fetches(tmp_path) == 2


def test_runs_started_together_prepare_once(tmp_path):
  processes = [_start(tmp_path) for _ in range(3)]
  results = [_finish(p) for p in processes]
  for code, out, err in results:
    assert code == 0, err[-2000:]
    assert 'examples 12 (16, 16, 3)' in out
  assert _fetches(tmp_path) == 1
  assert sum('Preparing the TFDS dataset' in err for _, _, err in results) == 1


def test_only_process_zero_prepares_and_the_others_wait(monkeypatch):
  calls, gathered = [], []
  monkeypatch.setattr(prepare, 'prepare', lambda name, data_dir: calls.append(name))
  monkeypatch.setattr(prepare.jax, 'process_count', lambda: 2)
  monkeypatch.setattr(prepare.multihost_utils, 'process_allgather',
                      lambda failed: gathered.append(bool(failed)) or [False, False])
  for index, expected_calls in ((1, []), (0, ['toy'])):
    calls.clear()
    monkeypatch.setattr(prepare.jax, 'process_index', lambda index=index: index)
    prepare.ensure('toy', '/nowhere')
    assert calls == expected_calls
  assert gathered == [False, False]  # Both reached the barrier.
  # Process 0 failed: the others stop too, with one sentence.
  monkeypatch.setattr(prepare.jax, 'process_index', lambda: 1)
  monkeypatch.setattr(prepare.multihost_utils, 'process_allgather',
                      lambda failed: [True, False])
  with pytest.raises(DataError, match='Process 0 could not prepare'):
    prepare.ensure('toy', '/nowhere')


@pytest.mark.skipif(prepare._has_tensorflow(), reason='TensorFlow is installed here.')  # pylint: disable=protected-access
def test_images_without_tensorflow_name_the_extra(tmp_path):
  with pytest.raises(DataError) as error:
    sources.tfds_split('cifar10', 'train', str(tmp_path), download=True)
  assert "pip install 'colorjax[prepare]'" in str(error.value)
  downloads = tmp_path / 'downloads'  # Refused before downloading anything.
  assert not downloads.exists() or not os.listdir(downloads)


def test_a_manual_dataset_keeps_its_instructions(tmp_path):
  with pytest.raises(DataError, match='cannot be downloaded automatically'):
    sources.tfds_split('imagenet2012', 'train', str(tmp_path), download=True)


def test_offline_the_message_stays_one_sentence(tmp_path, monkeypatch):
  def no_network(self, url_or_urls):
    raise ConnectionError('Failed to establish a new connection')
  monkeypatch.setattr(tfds.download.DownloadManager, 'download', no_network)
  with pytest.raises(DataError) as error:
    sources.tfds_split(tfds_toy.NAME, 'train', str(tmp_path), download=True)
  message = str(error.value)
  assert 'Failed to establish a new connection' in message
  assert '--config.data.source=folder' in message and '\n' not in message
  assert not tfds.builder(tfds_toy.NAME, data_dir=str(tmp_path)).is_prepared()

"""Trains a colorization model: `python -m colorjax.main --config=configs/unet.py`.

Without --workdir the run goes to runs/<config file name>; running the same
command again resumes from the latest checkpoint there. SIGTERM (`timeout`,
`kill`, a scheduler's preemption) stops the run after the step in progress,
with a checkpoint of that step to resume from, and a non-zero exit.
"""

import os
import sys

from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from colorjax import command
from colorjax import distributed
from colorjax import host_memory
from colorjax import train
from colorjax import errors

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Training config file, e.g. configs/unet.py.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Run directory for checkpoints and logs; defaults to '
    'runs/<config file name>.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'HOST:PORT of process 0, for a multi-process '
    'run (or JAX_COORDINATOR_ADDRESS); not needed under SLURM.')
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', None, 'Processes in a multi-process run (or JAX_NUM_PROCESSES).')
_PROCESS_ID = flags.DEFINE_integer(
    'process_id', None, 'This process, 0 to num_processes - 1 (or JAX_PROCESS_ID).')
_START_TIMEOUT = flags.DEFINE_integer(
    'distributed_timeout', 300, 'Seconds for all processes to join before giving up.')
flags.mark_flags_as_required(['config'])


def default_workdir(config_path: str) -> str:
  """runs/<config file name without extension>."""
  name = os.path.splitext(os.path.basename(config_path.split(':')[0]))[0]
  return os.path.join('runs', name)


def main(argv):
  workdir = _WORKDIR.value or default_workdir(
      config_flags.get_config_filename(flags.FLAGS['config']))
  distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value,
                         _PROCESS_ID.value, _START_TIMEOUT.value)
  if jax.process_index() > 0:  # Process 0 speaks for all.
    logging.set_verbosity(logging.WARNING)
  logging.info('JAX devices: %s; workdir: %s', jax.devices(), workdir)
  train.train_and_evaluate(_CONFIG.value, workdir)


def cli():
  """`colorjax-train` (installed with the package): the same as `python -m
  colorjax.main`. As there, the working directory is on the import path, so
  the config files of a checkout (`configs/`, which import each other) load.

  It first starts itself again with malloc on transparent huge pages where
  glibc and the kernel allow them (`host_memory`): a fifth to a quarter more
  images a second on a CPU, where every step's temporary buffers were being
  mapped and zeroed 4 KiB at a time."""
  host_memory.run_again_with_huge_pages()
  sys.path.insert(0, os.getcwd())
  command.run(__name__, main, user_errors=(
      errors.ConfigError, errors.DataError, errors.TrainingDiverged,
      errors.Stopped, errors.CheckpointError, errors.WorkdirBusy,
      distributed.DistributedError))


if __name__ == '__main__':
  cli()

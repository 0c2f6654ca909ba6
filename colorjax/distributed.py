"""Joining JAX's multi-process runtime when several processes train together.

One process per host (or several on one machine, for trying it out) runs the
same command; together they form one mesh over all their devices. A process
joins when it is told to:
- explicitly, with --coordinator_address, --num_processes and --process_id
  (or the environment variables JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES
  and JAX_PROCESS_ID), or
- by SLURM, when a job step runs several tasks (JAX reads SLURM's variables).

Start-up is bounded: a coordinator that cannot be reached, or processes that
do not all arrive (say, a wrong process count), end the process after
`timeout_s` with one message naming the cause, rather than a hang.
"""

import os
import socket
import sys
import threading
import time

from absl import logging
import jax


class DistributedError(RuntimeError):
  """The processes could not form a distributed run; the message says why."""


def _from_env(value, name, cast=str):
  if value is not None:
    return value
  raw = os.environ.get(name)
  return cast(raw) if raw not in (None, '') else None


def _slurm_tasks() -> int:
  if 'SLURM_JOB_ID' not in os.environ:
    return 1
  return int(os.environ.get('SLURM_STEP_NUM_TASKS') or os.environ.get('SLURM_NTASKS') or 1)


def _slurm_local_device_ids() -> list[int] | None:
  """All GPUs of the node when SLURM runs one task per node.

  JAX would otherwise give each SLURM task only the GPU numbered by its
  SLURM_LOCALID, which suits one task per GPU but not one task per node.
  """
  tasks_per_node = (os.environ.get('SLURM_STEP_TASKS_PER_NODE') or
                    os.environ.get('SLURM_TASKS_PER_NODE') or '')
  if tasks_per_node.split('(')[0] != '1':
    return None
  visible = os.environ.get('CUDA_VISIBLE_DEVICES')
  count = len(visible.split(',')) if visible else int(
      os.environ.get('SLURM_GPUS_ON_NODE') or 0)
  return list(range(count)) if count else None


def _wait_for_coordinator(address: str, deadline: float) -> None:
  """Returns once a TCP connection to address succeeds; raises at the deadline."""
  host, _, port = address.rpartition(':')
  while True:
    try:
      with socket.create_connection((host.strip('[]'), int(port)), timeout=2):
        return
    except OSError as e:
      if time.time() >= deadline:
        raise DistributedError(
            f'The coordinator {address} could not be reached ({e.strerror or e}) '
            'before the start-up timeout; start process 0 first, and check the '
            'address and that its port is open.') from e
      time.sleep(0.5)


def _exit_with(message: str) -> None:
  print(f'error: {message}', file=sys.stderr, flush=True)
  os._exit(1)  # pylint: disable=protected-access


def initialize(coordinator_address: str | None = None,
               num_processes: int | None = None,
               process_id: int | None = None,
               timeout_s: int = 300) -> bool:
  """Joins the distributed runtime if this process is one of several.

  Must run before anything else uses JAX's devices.

  Returns:
    True if this process joined a multi-process run.

  Raises:
    DistributedError: inconsistent settings or an unreachable coordinator.
  """
  address = _from_env(coordinator_address, 'JAX_COORDINATOR_ADDRESS')
  count = _from_env(num_processes, 'JAX_NUM_PROCESSES', int)
  index = _from_env(process_id, 'JAX_PROCESS_ID', int)
  explicit = (address, count, index) != (None, None, None)
  if not explicit and _slurm_tasks() <= 1:
    return False
  if explicit:
    if None in (address, count, index):
      raise DistributedError(
          'A multi-process run needs all of --coordinator_address, '
          '--num_processes and --process_id (or none of them under SLURM).')
    if not 0 <= index < count:
      raise DistributedError(
          f'--process_id must be in [0, {count}) for {count} processes, not {index}.')
    if ':' not in address:
      raise DistributedError(
          f'--coordinator_address must be HOST:PORT, not {address!r}.')
  # CPU devices of different processes talk through gloo; GPUs use NCCL.
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  deadline = time.time() + timeout_s
  if explicit and index != 0:
    _wait_for_coordinator(address, deadline)
  who = (f'process {index} of {count} at {address}' if explicit
         else f'SLURM task {os.environ.get("SLURM_PROCID", "?")} of {_slurm_tasks()}')
  watchdog = threading.Timer(
      max(1.0, deadline - time.time()), _exit_with,
      [f'{who}: not every process joined the distributed run within '
       f'{timeout_s} s. Check that exactly the expected number of processes '
       'started, all with the same --coordinator_address and --num_processes.'])
  watchdog.daemon = True
  watchdog.start()
  try:
    jax.distributed.initialize(
        address, count, index,
        local_device_ids=None if explicit else _slurm_local_device_ids(),
        initialization_timeout=timeout_s + 60)
  finally:
    watchdog.cancel()
  logging.info('Joined the distributed run as %s: %d processes, %d devices.',
               who, jax.process_count(), jax.device_count())
  return True

"""Checkpoints of a run: train state and config, saved by orbax.

A run directory holds `checkpoints/<step>/{state,config}`. Saves are
asynchronous and atomic (orbax writes to a temporary directory and renames
it when complete), so a run killed at any moment leaves its latest complete
checkpoint intact and the next start resumes from it.
"""

import contextlib
import errno
import fcntl
import os
import socket

from absl import logging
import jax
import orbax.checkpoint as ocp

from colorjax import errors


LOCK_FILE = 'train.lock'


@contextlib.contextmanager
def workdir_lock(workdir: str):
  """Holds <workdir>/train.lock while a run trains there, so that a second
  process started in the same workdir stops with a clear message instead of
  writing checkpoints beside the first one's. The operating system drops the
  lock when the holder exits, however it exits, so a crashed run leaves no
  stale lock. Only process 0 of a multi-process run takes it (the others
  share its workdir); on a filesystem without locks the run goes on, warned.

  Raises:
    errors.WorkdirBusy: another process holds the lock.
  """
  if jax.process_index() > 0:
    yield
    return
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, LOCK_FILE)
  with open(path, 'a+', encoding='utf-8') as handle:
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      handle.seek(0)
      holder = handle.read().strip() or 'another process'
      raise errors.WorkdirBusy(
          f'{holder} is training in {workdir} (it holds {path}); wait for it to '
          'finish or stop it (SIGTERM saves a checkpoint), then run again, or pass '
          'another --workdir.') from None
    except OSError as e:
      logging.warning('Could not lock %s (%s); nothing stops a second run from '
                      'training in the same workdir.', path, e)
    handle.seek(0)
    handle.truncate()
    handle.write(f'process {os.getpid()} on {socket.gethostname()}\n')
    handle.flush()
    yield


def manager(workdir: str, *, keep: int, async_save: bool = True):
  """The CheckpointManager of a run directory, keeping the latest `keep` steps."""
  options = ocp.CheckpointManagerOptions(
      max_to_keep=keep, create=True,
      enable_async_checkpointing=async_save)
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, 'checkpoints')), options=options)


def save(mngr, step: int, state, record: dict) -> None:
  """Starts saving `state` and the config `record` that made it at `step`
  (the task's `stored_config`: the run's config plus what inference needs,
  e.g. a classification run's class weights)."""
  mngr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state),
      config=ocp.args.JsonSave(record)))


def _restore_step(mngr, target, step: int):
  restored = mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(target),
      config=ocp.args.JsonRestore()))
  return restored.state, restored.config


def _first_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return f'{type(error).__name__}: {text[0][:160] if text else ""}'


def restore(mngr, target, step: int | None = None):
  """Restores the state at `step` (default: the newest checkpoint that
  restores) shaped and sharded like `target`.

  A checkpoint that does not restore (a file deleted, truncated or
  overwritten, a step directory without its metadata: a disk that filled or
  a node that crashed mid-save) is skipped with one warning line and moved
  aside to `checkpoints/corrupt_<step>` (by process 0), so that the run
  resumes from the newest one that is whole and later saves do not meet it.

  Returns:
    (state, config dict), or None if the run has no checkpoint yet.

  Raises:
    errors.CheckpointError: no checkpoint restores (also when they were all
      written by another config); the message names the directory.
  """
  steps = [step] if step is not None else sorted(mngr.all_steps(), reverse=True)
  if not steps:
    return None
  failures = []
  for candidate in steps:
    try:
      restored = _restore_step(mngr, target, candidate)
    except Exception as e:  # pylint: disable=broad-except  # orbax raises many kinds.
      failures.append((candidate, e))
      continue
    if failures:
      _set_aside(mngr, [s for s, _ in failures], candidate)
    return restored
  newest, error = failures[0]
  raise errors.CheckpointError(
      f'No checkpoint in {mngr.directory} restores (step {newest}: {_first_line(error)}); '
      'if the config changed, use a new --workdir or the config that wrote them, '
      'else move that folder away to start afresh.') from error


def _set_aside(mngr, steps: list[int], resumed: int) -> None:
  """Moves the step directories that did not restore to corrupt_<step>."""
  directory = str(mngr.directory)
  for step in steps:
    source = os.path.join(directory, str(step))
    target = os.path.join(directory, f'corrupt_{step}')
    if jax.process_index() == 0 and os.path.isdir(source) and not os.path.exists(target):
      os.replace(source, target)
    logging.warning('The checkpoint of step %d in %s does not restore; moved it to %s '
                    'and resumed from step %d.', step, directory, target, resumed)
  mngr.reload()


def _disk_full(error: BaseException) -> bool:
  """Whether an error, or one it came from, is ENOSPC (no space left)."""
  while error is not None:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
      return True
    error = error.__cause__ or error.__context__
  return False


def saving_failed(error: BaseException, workdir: str, last_saved: int | None):
  """The one-sentence error for a save that raised `error` (re-raised as it
  is unless it is a full disk or another OSError)."""
  kept = (f'the checkpoint of step {last_saved} is intact; ' if last_saved
          else 'no earlier checkpoint was written; ')
  if _disk_full(error):
    return errors.CheckpointError(
        f'Saving a checkpoint in {workdir}/checkpoints failed: the disk is full; {kept}'
        'free some space and run the same command again to resume.')
  return errors.CheckpointError(
      f'Saving a checkpoint in {workdir}/checkpoints failed ({_first_line(error)}); {kept}'
      'fix the disk and run the same command again to resume.')


def _hide_orbax_info(record) -> bool:
  return record.levelno > logging.converter.STANDARD_INFO or 'orbax' not in record.pathname


def quiet_library_logs() -> None:
  """Keeps orbax's INFO lines (several per save and load) off the console."""
  logging.get_absl_logger().addFilter(_hide_orbax_info)


# Where the bundled models live, if they ship with the package: the automatic
# one, and the one that also reads colour hints (colorjax.hints).
PRETRAINED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pretrained')
PRETRAINED_HINTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pretrained_hints')


def resolve(path: str | None, *, hints: bool = False) -> str:
  """`path`, or when none is given the bundled model: the hint-conditioned
  one if `hints` (a caller that will pass colour hints), else the automatic one."""
  if path:
    return path
  bundled = PRETRAINED_HINTS if hints else PRETRAINED
  if os.path.isdir(bundled):
    return bundled
  raise FileNotFoundError(f'No model given and no {"hint-conditioned " if hints else ""}'
                          'pretrained model ships with this copy of colorjax; pass '
                          '--checkpoint=RUN_DIR.')


def step_dir(path: str) -> str:
  """The checkpoint directory that `path` names: a run directory (its latest
  step), its checkpoints/ directory (the same) or one step's directory."""
  for root in (os.path.join(path, 'checkpoints'), path):
    steps = [int(s) for s in os.listdir(root) if s.isdigit()] if os.path.isdir(root) else []
    if steps:
      return os.path.join(root, str(max(steps)))
  if os.path.isdir(os.path.join(path, 'state')):
    return path
  raise FileNotFoundError(f'No checkpoint found at {path!r}; pass a run '
                          'directory, its checkpoints/ folder or a step folder.')


def load(path: str, *, sharding: jax.sharding.Sharding | None = None):
  """Loads a checkpoint, whatever topology wrote it.

  Args:
    path: a run directory or a step directory (see `step_dir`).
    sharding: where every array goes; default this process's first device.
      A computation over a mesh needs the mesh's (e.g. replicated) sharding:
      JAX refuses to mix arrays on one device with outputs on several.

  Returns:
    (state as a dict of arrays: params, batch_stats, opt_state, step;
     the config dict the run was started with).
  """
  directory = os.path.abspath(step_dir(path))
  checkpointer = ocp.StandardCheckpointer()
  metadata = checkpointer.metadata(os.path.join(directory, 'state')).item_metadata
  sharding = sharding or jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=sharding), metadata)
  state = checkpointer.restore(os.path.join(directory, 'state'), target)
  return state, load_config(directory)


def load_config(path: str) -> dict:
  """The config dict a checkpoint's run was started with, without its arrays."""
  return ocp.Checkpointer(ocp.JsonCheckpointHandler()).restore(
      os.path.join(os.path.abspath(step_dir(path)), 'config'))

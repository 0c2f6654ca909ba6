"""Checkpoints of a run: train state and config, saved by orbax.

A run directory holds `checkpoints/<step>/{state,config}`. Saves are
asynchronous and atomic (orbax writes to a temporary directory and renames
it when complete), so a run killed at any moment leaves its latest complete
checkpoint intact and the next start resumes from it.
"""

import os

import orbax.checkpoint as ocp


def manager(workdir: str, *, keep: int, async_save: bool = True):
  """The CheckpointManager of a run directory, keeping the latest `keep` steps."""
  options = ocp.CheckpointManagerOptions(
      max_to_keep=keep, create=True,
      enable_async_checkpointing=async_save)
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, 'checkpoints')), options=options)


def save(mngr, step: int, state, config) -> None:
  """Starts saving `state` and the `config` that made it at `step`."""
  mngr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state),
      config=ocp.args.JsonSave(config.to_dict())))


def restore(mngr, target, step: int | None = None):
  """Restores the state at `step` (default latest) shaped and sharded like `target`.

  Returns:
    (state, config dict), or None if the run has no checkpoint yet.
  """
  step = mngr.latest_step() if step is None else step
  if step is None:
    return None
  restored = mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(target),
      config=ocp.args.JsonRestore()))
  return restored.state, restored.config

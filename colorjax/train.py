"""Training and periodic evaluation: `train_and_evaluate(config, workdir)`.

The loop is the same for every task: the config's task (`colorjax.tasks`)
gives the network, the fresh state, the per-device step and what a
checkpoint stores; `parallel.map_step` maps the step over the devices (pmap
style: the step averages over the device axis with `lax.pmean`); the loop
feeds it batches, evaluates with `metrics.score` (the same scoring as
`colorjax.evaluate`), reports (`colorjax.reporting`) and checkpoints, and a
restarted run resumes from its latest checkpoint with the same batches.
"""

import functools
import os
import signal
import threading

from absl import logging
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np

from colorjax import checkpoint
from colorjax import color
from colorjax import hints
from colorjax import input_pipeline
from colorjax import metrics as metrics_lib
from colorjax import models
from colorjax import optim
from colorjax import parallel
from colorjax import reporting
from colorjax import sources
from colorjax import tasks
from colorjax.errors import Stopped
from colorjax.errors import TrainingDiverged


def validate_config(config, device_count: int) -> None:
  """Raises ConfigError naming the first config value that cannot work."""
  check = tasks.base.check
  check(config.model.name in models.BUILDERS,
        f'config.model.name must be one of {sorted(models.BUILDERS)}, '
        f'not {config.model.name!r}.')
  check(config.model.norm in models.NORMS,
        f'config.model.norm must be one of {models.NORMS}, not {config.model.norm!r}.')
  tasks.of(config).validate(config)
  hints.placement(config)  # Raises ConfigError for an unknown one.
  check(config.opt.schedule in optim.SCHEDULES,
        f'config.opt.schedule must be one of {optim.SCHEDULES}, not {config.opt.schedule!r}.')
  check(config.num_train_steps > 0,
        f'config.num_train_steps must be positive, not {config.num_train_steps}.')
  check(config.opt.learning_rate > 0,
        f'config.opt.learning_rate must be positive, not {config.opt.learning_rate}.')
  check(0 <= config.opt.warmup_steps < config.num_train_steps,
        f'config.opt.warmup_steps ({config.opt.warmup_steps}) must be at least 0 '
        f'and below config.num_train_steps ({config.num_train_steps}).')
  check(config.data.image_size >= 8,
        f'config.data.image_size must be at least 8 pixels, not {config.data.image_size}.')
  for field, value in (('global_batch_size', config.global_batch_size),
                       ('eval.batch_size', config.eval.batch_size)):
    check(value > 0 and value % device_count == 0,
          f'config.{field} ({value}) must be a positive multiple of the '
          f'device count ({device_count}); set --config.{field} accordingly.')
  for field in ('log_every_steps', 'eval_every_steps', 'checkpoint_every_steps'):
    lowest = -1 if field == 'eval_every_steps' else 0
    check(config[field] >= lowest, f'config.{field} must be 0 (last step only)'
          f'{", -1 (never)" if lowest < 0 else ""} or positive, not {config[field]}.')


def create_model(config, *, axis_name: str | None = None):
  """The network that `config.model` describes, in the training dtype."""
  return tasks.of(config).create_model(config, dtype=tasks.base.dtype(config),
                                       axis_name=axis_name)


def make_train_step(mesh, config, extras: dict | None = None):
  """The task's per-device step mapped over the mesh's devices and jitted;
  donates the state. `extras`: what the task's `prepare` returned."""
  return parallel.map_step(tasks.of(config).train_step(config, extras or {}), mesh)


EVAL_METRICS = ('mse_ab', 'psnr', 'ssim', 'colorfulness', 'colorfulness_gt')
EVAL_GRAY_METRICS = ('psnr', 'ssim')  # Of the gray baseline, as gray_<name>.


def eval_step(variables, batch, *, model, input_fn=None):
  """Sums of per-image metrics over the unmasked images, and the predictions.

  Each image is scored by `metrics.score`, as `colorjax.evaluate` scores a
  photo of the same size at its native resolution. `input_fn(l)`: what the
  network reads (default l; a hint-conditioned network gets no hints here).

  Returns:
    (sums of EVAL_METRICS, gray_<EVAL_GRAY_METRICS> and 'count',
     uint8 RGB [batch, h, w, 3] of the model's and the gray baseline's output).
  """
  rgb = batch['rgb']
  l, _ = color.normalize(color.rgb_to_lab(rgb))
  ab_pred = model.apply(variables, l if input_fn is None else input_fn(l), train=False)
  rgb_pred = color.compose(l, ab_pred)
  everywhere = jnp.ones(rgb.shape[1:3], bool)
  scores, gray = jax.vmap(metrics_lib.score, in_axes=(0, 0, 0, None))(
      rgb, rgb_pred, ab_pred, everywhere)
  per_image = {**{k: scores[k] for k in EVAL_METRICS},
               **{f'gray_{k}': gray[k] for k in EVAL_GRAY_METRICS}}
  mask = batch['mask'].astype(jnp.float32)
  sums = {k: jnp.sum(v * mask) for k, v in per_image.items()}
  sums['count'] = jnp.sum(mask)
  return sums, (rgb_pred, color.gray(l))


def evaluate(p_eval_step, variables, eval_data, mesh, grid_size: int):
  """Mean metrics over the whole eval set, and an image grid of its first images."""
  totals, grid = None, None
  for local_batch in eval_data:
    batch = parallel.shard_batch(mesh, local_batch)
    sums, (rgb_pred, rgb_gray) = p_eval_step(variables, batch)
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    if grid is None and grid_size > 0:
      rgb, pred, gray, mask = multihost_utils.process_allgather(
          (batch['rgb'], rgb_pred, rgb_gray, batch['mask']), tiled=True)
      grid = reporting.image_grid(*(x[mask][:grid_size] for x in (gray, pred, rgb)))
  totals = jax.device_get(totals)
  count = max(float(totals.pop('count')), 1.0)
  return {k: float(v) / count for k, v in totals.items()}, grid


def _is_time(step: int, every: int, last_step: int) -> bool:
  """True on multiples of `every` (0: never) and on the last step."""
  return step == last_step or (every > 0 and step % every == 0)


def _check_finite(pending: list, last_good_step: int | None, workdir: str):
  """Fetches the pending per-step metrics and returns their means.

  Raises:
    TrainingDiverged: a pending step's loss is NaN or infinite.
  """
  if not pending:
    return None
  host = jax.device_get(pending)
  for step, metrics in host:
    if not np.isfinite(metrics['loss']):
      kept = (f'the last good checkpoint (step {last_good_step}) in '
              f'{workdir}/checkpoints is intact' if last_good_step is not None
              else 'no checkpoint was written')
      raise TrainingDiverged(
          f'The loss became {metrics["loss"]} at step {step}, so training '
          f'stopped; {kept}. Lower --config.opt.learning_rate or set '
          '--config.opt.grad_clip_norm, then rerun.')
  pending.clear()
  return {k: float(np.mean([m[k] for _, m in host])) for k in host[0][1]}


class _StopRequest:
  """Whether the run has been asked to stop: SIGTERM, as a scheduler's
  preemption, `timeout` or `kill` send it. In one process a handler notes the
  signal and the loop reads the note between steps; in several, JAX's
  preemption service (orbax's `reached_preemption`) handles SIGTERM and makes
  every process stop at the same step."""

  def __init__(self, mngr):
    self.mngr, self.signal, self._previous = mngr, None, None
    self.shared = jax.process_count() > 1
    if not self.shared and threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._note)

  def _note(self, signum, frame):  # pylint: disable=unused-argument
    self.signal = signum

  def reached(self, step: int) -> bool:
    if self.shared:
      return self.mngr.reached_preemption(step)
    return self.signal is not None

  def close(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _open_data(config):
  """The train and eval sources, scanned: (train source, indices, eval source, indices)."""
  data = config.data
  train_source = sources.open_source(data, 'train')
  train_indices = sources.scan(
      train_source, gray_threshold=data.gray_threshold, name='train')
  eval_source = sources.open_source(data, 'eval')
  eval_indices = sources.scan(eval_source, gray_threshold=0, name='eval')
  return train_source, train_indices, eval_source, eval_indices


def _train_data(config, mesh, source, indices, start_step: int):
  """Global training batches from `start_step` on: from the host pipeline, or
  gathered on the device when config.data.on_device."""
  steps = range(start_step, config.num_train_steps)
  if config.data.on_device:
    dataset = input_pipeline.DeviceDataset(
        config.data, source, indices, seed=config.seed,
        global_batch=config.global_batch_size,
        sharding=parallel.batch_sharding(mesh))
    return (dataset.batch(step) for step in steps)
  host = input_pipeline.train_batches(
      config.data, source, indices, global_batch=config.global_batch_size,
      start_step=start_step, num_steps=config.num_train_steps, seed=config.seed)
  return (parallel.shard_batch(mesh, batch) for batch in host)


def _restore_or_init(mngr, state, workdir):
  """The newest checkpoint's state that restores if the run has one (see
  `checkpoint.restore`), else `state`."""
  restored = checkpoint.restore(mngr, state)
  if restored is None:
    return state
  logging.info('Resuming from step %d in %s.', int(restored[0].step), workdir)
  return restored[0]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       mesh: jax.sharding.Mesh | None = None):
  """Trains (resuming from the workdir's latest checkpoint) and evaluates.

  Args:
    config: the run's config (see configs/default.py).
    workdir: where checkpoints and logs go.
    mesh: the devices to train on (default `parallel.make_mesh()`: all of them).

  Returns:
    The final train state (of the config's task).

  Raises:
    errors.WorkdirBusy: another process is training in `workdir`.
  """
  mesh = mesh or parallel.make_mesh()
  validate_config(config, mesh.size)
  with checkpoint.workdir_lock(workdir):
    return _train_and_evaluate(config, workdir, mesh)


def _train_and_evaluate(config, workdir, mesh):
  os.makedirs(workdir, exist_ok=True)
  train_source, train_indices, eval_source, eval_indices = _open_data(config)

  task = tasks.of(config)
  extras = task.prepare(config, workdir, train_source, train_indices)

  rng_init, rng_steps = jax.random.split(jax.random.key(config.seed))
  model = create_model(config, axis_name=parallel.AXIS)
  replicated = parallel.replicated(mesh)
  mngr = checkpoint.manager(workdir, keep=config.keep_checkpoints)
  # A warm start is only read when the run has no checkpoint of its own.
  warm = None
  if mngr.latest_step() is None:
    warm = task.warm_start(config, model, replicated)
  state = jax.jit(lambda rng, warm: task.create_state(config, rng, model, warm),
                  out_shardings=replicated)(rng_init, warm)
  state = _restore_or_init(mngr, state, workdir)
  start_step = int(state.step)

  p_train_step = make_train_step(mesh, config, extras)
  # Evaluation decodes the network as its checkpoints will be decoded.
  record = task.stored_config(config, extras)
  p_eval_step = jax.jit(functools.partial(
      eval_step, model=task.inference_model(record),
      input_fn=functools.partial(tasks.base.model_input, config)))
  train_data = _train_data(config, mesh, train_source, train_indices, start_step)
  eval_data = input_pipeline.eval_batches(
      config.data, eval_source, eval_indices,
      global_batch=config.eval.batch_size)

  total = config.num_train_steps
  reporter = reporting.Reporter(workdir, total, config.global_batch_size)
  pending, last_saved = [], mngr.latest_step()
  stop = _StopRequest(mngr)
  try:
    for step in range(start_step + 1, total + 1):
      state, metrics = p_train_step(state, next(train_data), rng_steps)
      pending.append((step, metrics))
      if step == start_step + 1:
        reporter.start_clock(step, metrics)
      if _is_time(step, config.log_every_steps, total):
        reporter.train(step, _check_finite(pending, last_saved, workdir))
      if config.eval_every_steps >= 0 and _is_time(step, config.eval_every_steps, total):
        with reporter.paused(state):
          variables = {'params': state.params, 'batch_stats': state.batch_stats}
          reporter.eval(step, *evaluate(p_eval_step, variables, eval_data, mesh,
                                        config.image_grid_size))
      if _is_time(step, config.checkpoint_every_steps, total):
        with reporter.paused(state):
          _check_finite(pending, last_saved, workdir)
          last_saved = _save(mngr, step, state, record, workdir, last_saved)
      if step < total and stop.reached(step):
        if last_saved != step:
          with reporter.paused(state):
            _check_finite(pending, last_saved, workdir)
            last_saved = _save(mngr, step, state, record, workdir, last_saved)
        raise Stopped(
            f'Training stopped on SIGTERM after step {step} of {total}, whose '
            f'checkpoint is in {workdir}/checkpoints; run the same command '
            'again to resume from it.')
  finally:
    stop.close()
    try:
      mngr.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except  # The last async save failed.
      raise checkpoint.saving_failed(e, workdir, _whole_steps(mngr, last_saved)) from e
    finally:
      mngr.close()
      reporter.close()
  return state


def _whole_steps(mngr, fallback):
  """The newest step whose save finished, as far as the manager knows."""
  steps = [s for s in mngr.all_steps() if s != fallback] if fallback else mngr.all_steps()
  return max(steps) if steps else None


def _save(mngr, step, state, record, workdir, last_saved):
  """Starts saving `step`; a failure (the previous save's, reported now, or
  this one's) stops the run with one sentence (`checkpoint.saving_failed`)."""
  try:
    checkpoint.save(mngr, step, state, record)
  except Exception as e:  # pylint: disable=broad-except
    raise checkpoint.saving_failed(e, workdir, last_saved) from e
  return step

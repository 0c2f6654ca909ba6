"""Training and periodic evaluation: `train_and_evaluate(config, workdir)`.

Data parallelism in the pmap style, written the way JAX now implements pmap:
`train_step` is the per-device step and averages gradients (and BatchNorm
statistics) over the device axis 'data' with `lax.pmean`; `jax.shard_map`
maps it over a one-axis mesh of all devices (of all processes), under
`jax.jit`. Parameters are replicated; each device sees its slice of the
global batch.

What is trained follows the config: the regression head with MSE or L1, the
classification head with the rebalanced cross-entropy (`classification`), or,
with config.gan.enabled, the network as the generator of a GAN whose step is
`gan.train_step`. The loop, evaluation and checkpoints are the same for all.
"""

import contextlib
import functools
import json
import os
import time
from typing import Any, Callable

from absl import logging
import flax.linen as nn
from flax.training import train_state
import jax
from jax import lax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from colorjax import checkpoint
from colorjax import classification
from colorjax import color
from colorjax import gan
from colorjax import heads
from colorjax import input_pipeline
from colorjax import metrics as metrics_lib
from colorjax import models
from colorjax import prior

AXIS = 'data'  # Name of the mesh axis the batch is split over.


class ConfigError(ValueError):
  """A config value that cannot work; the message names it and the fix."""


class TrainingDiverged(FloatingPointError):
  """The loss became NaN or infinite."""


class TrainState(train_state.TrainState):
  batch_stats: Any = None  # BatchNorm running statistics ({} without BatchNorm).


# ------------------------------------------------------------------ setup --

LOSSES = {
    'mse': lambda pred, true: jnp.mean(jnp.square(pred - true)),
    'l1': lambda pred, true: jnp.mean(jnp.abs(pred - true)),
}
SCHEDULES = ('constant', 'cosine')


def create_model(config, *, axis_name: str | None = None) -> nn.Module:
  """The network that `config.model` describes, bf16 if `config.half_precision`:
  with the classification head, one logit per ab bin."""
  return heads.create_model(config, dtype=_dtype(config), axis_name=axis_name)


def inference_model(config, class_weights=None):
  """The network as `colorjax.evaluate` runs it: in float32 whatever the
  training precision, returning normalised ab whatever the head (see `heads`)."""
  return heads.inference_model(config, class_weights=class_weights)


def _dtype(config):
  return jnp.bfloat16 if config.half_precision else jnp.float32


def make_loss(config, class_weights=None) -> Callable:
  """(network output, normalised true ab) -> scalar loss for the config's head.

  Args:
    class_weights: [Q] rebalancing weights for the classification head (None:
      all ones).
  """
  if heads.head(config) == 'regression':
    return LOSSES[config.loss]
  cls = config.classification
  bins = classification.ab_bins()
  if class_weights is None:
    class_weights = np.ones(len(bins), np.float32)

  def loss(logits, ab):
    return classification.rebalanced_cross_entropy(
        logits, ab * color.AB_SCALE, bins, class_weights,
        neighbours=cls.neighbours, sigma=cls.sigma)
  return loss


def validate_config(config, device_count: int) -> None:
  """Raises ConfigError naming the first config value that cannot work."""
  def check(ok, message):
    if not ok:
      raise ConfigError(message)
  check(config.model.name in models.BUILDERS,
        f'config.model.name must be one of {sorted(models.BUILDERS)}, '
        f'not {config.model.name!r}.')
  check(config.model.norm in models.NORMS,
        f'config.model.norm must be one of {models.NORMS}, not {config.model.norm!r}.')
  check(heads.head(config) in heads.HEADS,
        f'config.model.head must be one of {heads.HEADS}, not {config.model.head!r}.')
  check(not config.gan.enabled or heads.head(config) == 'regression',
        'config.gan.enabled needs config.model.head = "regression": the '
        'generator returns ab for the discriminator to judge.')
  check(config.gan.loss in gan.LOSSES,
        f'config.gan.loss must be one of {gan.LOSSES}, not {config.gan.loss!r}.')
  check(config.loss in LOSSES,
        f'config.loss must be one of {sorted(LOSSES)}, not {config.loss!r}.')
  check(config.opt.schedule in SCHEDULES,
        f'config.opt.schedule must be one of {SCHEDULES}, not {config.opt.schedule!r}.')
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
    check(config[field] >= 0, f'config.{field} must be 0 (off) or positive, '
          f'not {config[field]}.')


def learning_rate_schedule(config, peak: float | None = None) -> optax.Schedule:
  """Linear warm-up from 0 to `peak` (default config.opt.learning_rate), then
  constant or cosine decay to `final_lr_fraction` of it."""
  opt, steps = config.opt, config.num_train_steps
  peak = opt.learning_rate if peak is None else peak
  if opt.schedule == 'cosine':
    return optax.warmup_cosine_decay_schedule(
        0.0, peak, opt.warmup_steps, steps, end_value=peak * opt.final_lr_fraction)
  return optax.join_schedules(
      [optax.linear_schedule(0.0, peak, opt.warmup_steps),
       optax.constant_schedule(peak)], [opt.warmup_steps])


def create_optimizer(config, schedule, b1: float | None = None) -> optax.GradientTransformation:
  """Adam (the seed's optimiser), with optional global-norm clipping."""
  adam = optax.adam(schedule, b1=config.opt.b1 if b1 is None else b1, b2=config.opt.b2)
  if config.opt.grad_clip_norm > 0:
    return optax.chain(optax.clip_by_global_norm(config.opt.grad_clip_norm), adam)
  return adam


def create_state(config, rng, generator=None, *, model):
  """The fresh train state of a config: a TrainState, or a GANState with the
  discriminator when config.gan.enabled (its generator starting from
  `generator`'s params and batch_stats if given)."""
  tx = create_optimizer(config, learning_rate_schedule(config))
  if not config.gan.enabled:
    return create_train_state(rng, model, tx, config.data.image_size)
  disc_tx = create_optimizer(
      config, learning_rate_schedule(config, config.gan.disc_learning_rate),
      b1=config.gan.disc_b1)
  disc = gan.PatchGAN(widths=tuple(config.gan.disc_widths), dtype=_dtype(config))
  return gan.create_state(rng, model, disc, tx, disc_tx, config.data.image_size,
                          generator)


def generator_warm_start(config, model, sharding=None):
  """params and batch_stats of the regression checkpoint config.gan.init_from,
  placed with `sharding` (default: one device; see `checkpoint.load`)."""
  path = config.gan.init_from
  try:
    state, _ = checkpoint.load(path, sharding=sharding)
  except FileNotFoundError as e:
    raise ConfigError(f'config.gan.init_from: {e}') from e
  variables = {'params': state['params'], 'batch_stats': state['batch_stats']}
  expected = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 1)), train=False))
  if jax.tree.structure(expected) != jax.tree.structure(variables) or any(
      a.shape != b.shape for a, b in zip(jax.tree.leaves(expected),
                                         jax.tree.leaves(variables))):
    raise ConfigError(f'config.gan.init_from ({path}) holds another network than '
                      'config.model describes; start from a regression run of '
                      'the same model settings.')
  logging.info('Generator warm start from %s.', path)
  return variables


def create_train_state(rng, model, tx, image_size: int) -> TrainState:
  """Fresh parameters for `model` and the optimiser state."""
  variables = model.init(rng, jnp.zeros((1, image_size, image_size, 1)),
                         train=False)
  return TrainState.create(apply_fn=model.apply, params=variables['params'],
                           tx=tx, batch_stats=variables.get('batch_stats', {}))


# ------------------------------------------------------------------ steps --

def train_step(state: TrainState, batch, rng, *, loss_fn: Callable,
               learning_rate_fn: optax.Schedule):
  """One optimiser step, run on each device with its slice of the batch.

  Args:
    state: the replicated train state.
    batch: {'rgb': uint8 [local_batch, height, width, 3]}.
    rng: the run's key; this step's randomness is fold_in(rng, step).
    loss_fn: (network output, normalised true ab) -> scalar.
    learning_rate_fn: the schedule, for logging.

  Returns:
    (new state, metrics), both identical on every device.
  """
  rng = jax.random.fold_in(jax.random.fold_in(rng, state.step),
                           lax.axis_index(AXIS))
  l, ab = color.normalize(color.rgb_to_lab(batch['rgb']))

  def loss_and_updates(params):
    outputs, updates = state.apply_fn(
        {'params': params, 'batch_stats': state.batch_stats}, l, train=True,
        mutable=['batch_stats'], rngs={'dropout': rng})
    return loss_fn(outputs, ab), updates

  (loss, updates), grads = jax.value_and_grad(loss_and_updates, has_aux=True)(
      state.params)
  grads = lax.pmean(grads, AXIS)
  new_state = state.apply_gradients(
      grads=grads,
      batch_stats=lax.pmean(updates.get('batch_stats', {}), AXIS))
  metrics = {'loss': lax.pmean(loss, AXIS),
             'grad_norm': optax.tree.norm(grads),
             'learning_rate': learning_rate_fn(state.step)}
  return new_state, metrics


def make_train_step(mesh, config, class_weights=None):
  """`train_step` (or `gan.train_step` when config.gan.enabled) mapped over the
  mesh's devices and jitted; donates the state."""
  if config.gan.enabled:
    step = functools.partial(gan.train_step, axis=AXIS, loss=config.gan.loss,
                             l1_weight=config.gan.l1_weight,
                             learning_rate_fn=learning_rate_schedule(config))
  else:
    step = functools.partial(train_step, loss_fn=make_loss(config, class_weights),
                             learning_rate_fn=learning_rate_schedule(config))
  P = jax.sharding.PartitionSpec
  # check_vma=False: classic pmap semantics, where per-device gradients are
  # averaged explicitly by the pmean in train_step.
  mapped = jax.shard_map(step, mesh=mesh, in_specs=(P(), P(AXIS), P()),
                         out_specs=(P(), P()), check_vma=False)
  return jax.jit(mapped, donate_argnums=(0,))


EVAL_METRICS = ('mse_ab', 'psnr', 'ssim', 'colorfulness', 'colorfulness_gt')
EVAL_GRAY_METRICS = ('psnr', 'ssim')  # Of the gray baseline, as gray_<name>.


def eval_step(variables, batch, *, model):
  """Sums of per-image metrics over the unmasked images, and the predictions.

  Each image is scored by `metrics.score`, as `colorjax.evaluate` scores a
  photo of the same size at its native resolution.

  Returns:
    (sums of EVAL_METRICS, gray_<EVAL_GRAY_METRICS> and 'count',
     uint8 RGB [batch, h, w, 3] of the model's and the gray baseline's output).
  """
  rgb = batch['rgb']
  l, _ = color.normalize(color.rgb_to_lab(rgb))
  ab_pred = model.apply(variables, l, train=False)
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


# ------------------------------------------------------------ the loop --

def make_mesh(num_devices: int | None = None) -> jax.sharding.Mesh:
  """A one-axis mesh (AXIS) over every device of every process, or over the
  first `num_devices` of them (e.g. one device of a simulated eight)."""
  devices = jax.devices()[:num_devices]
  return jax.make_mesh((len(devices),), (AXIS,), devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,))


def shard_batch(mesh, local_batch):
  """This process's slice of a batch -> a global array split over AXIS."""
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(AXIS))
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)


def evaluate(p_eval_step, variables, eval_data, mesh, grid_size: int):
  """Mean metrics over the whole eval set, and an image grid of its first images."""
  totals, grid = None, None
  for local_batch in eval_data:
    batch = shard_batch(mesh, local_batch)
    sums, (rgb_pred, rgb_gray) = p_eval_step(variables, batch)
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    if grid is None and grid_size > 0:
      rgb, pred, gray, mask = multihost_utils.process_allgather(
          (batch['rgb'], rgb_pred, rgb_gray, batch['mask']), tiled=True)
      grid = image_grid(*(x[mask][:grid_size] for x in (gray, pred, rgb)))
  totals = jax.device_get(totals)
  count = max(float(totals.pop('count')), 1.0)
  return {k: float(v) / count for k, v in totals.items()}, grid


def image_grid(gray: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
  """Rows of gray input | prediction | ground truth, uint8 [rows * h, 3 * w, 3]."""
  return np.concatenate([np.concatenate(row, axis=1) for row in zip(gray, pred, truth)])


def _is_time(step: int, every: int, last_step: int) -> bool:
  """True on multiples of `every` (0: never) and on the last step."""
  return step == last_step or (every > 0 and step % every == 0)


def format_duration(seconds: float) -> str:
  """H:MM:SS, with days in front when there are any ('2d 01:00:00')."""
  days, rest = divmod(int(round(seconds)), 86_400)
  hours, rest = divmod(rest, 3_600)
  text = f'{hours:02d}:{rest // 60:02d}:{rest % 60:02d}'
  return f'{days}d {text}' if days else text


class _Reporter:
  """Console progress lines, TensorBoard events and eval_metrics.jsonl (process 0).

  The img/s and ETA count training steps only: the clock starts once the
  run's first step (which compiles) has finished, and the time spent in
  `paused()` blocks (evaluation, checkpoints) is left out.
  """

  def __init__(self, workdir: str, total_steps: int, batch_size: int):
    self.workdir, self.total_steps, self.batch_size = workdir, total_steps, batch_size
    self.active = jax.process_index() == 0
    self.writer = None
    if self.active:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self.writer = SummaryWriter(workdir)
    self.clock_step, self.clock_time, self.paused_seconds = None, 0.0, 0.0

  def start_clock(self, step: int, ready) -> None:
    """Starts timing once `ready` (the outputs of step `step`) are computed."""
    jax.block_until_ready(ready)
    self.clock_step, self.clock_time, self.paused_seconds = step, time.time(), 0.0

  @contextlib.contextmanager
  def paused(self, ready):
    """Keeps the block's time out of the rate; `ready` (the train state) is
    waited for first, so that queued training steps count as training."""
    jax.block_until_ready(ready)
    start = time.time()
    try:
      yield
    finally:
      self.paused_seconds += time.time() - start

  def train(self, step: int, metrics: dict[str, float]) -> None:
    """Logs a training line; the metrics were fetched, so step `step` is done."""
    rate = None
    if self.clock_step is not None and step > self.clock_step:
      seconds = time.time() - self.clock_time - self.paused_seconds
      rate = (step - self.clock_step) * self.batch_size / max(seconds, 1e-9)
      self.clock_step, self.clock_time, self.paused_seconds = step, time.time(), 0.0
    speed = 'first step (compiling)'
    if rate is not None:
      eta = (self.total_steps - step) * self.batch_size / max(rate, 1e-9)
      speed = f'{rate:.1f} img/s | ETA {format_duration(eta)}'
    gan_part = ''
    if 'discriminator_loss' in metrics:  # How the two networks stand.
      gan_part = (f' | L1 {metrics["generator_l1"]:.4f} | D loss '
                  f'{metrics["discriminator_loss"]:.3f}, real '
                  f'{metrics["discriminator_real"]:.2f}, fake '
                  f'{metrics["discriminator_fake"]:.2f}')
    logging.info('step %d/%d | loss %.5f%s | %s', step, self.total_steps,
                 metrics['loss'], gan_part, speed)
    scalars = dict(metrics) if rate is None else {**metrics, 'images_per_second': rate}
    self._scalars(step, scalars, 'train')

  def eval(self, step: int, metrics: dict[str, float], grid) -> None:
    logging.info('eval at step %d: %s', step,
                 ', '.join(f'{k} {v:.4f}' for k, v in metrics.items()))
    self._scalars(step, metrics, 'eval')
    if not self.active:
      return
    with open(os.path.join(self.workdir, 'eval_metrics.jsonl'), 'a') as f:
      f.write(json.dumps({'step': step, **metrics}) + '\n')
    if grid is not None:
      from PIL import Image  # pylint: disable=g-import-not-at-top
      os.makedirs(os.path.join(self.workdir, 'images'), exist_ok=True)
      Image.fromarray(grid).save(
          os.path.join(self.workdir, 'images', f'step_{step:07d}.png'))
      self.writer.add_image('eval/gray_pred_truth', grid, step, dataformats='HWC')

  def _scalars(self, step, metrics, prefix):
    if self.active:
      for k, v in metrics.items():
        self.writer.add_scalar(f'{prefix}/{k}', v, step)
      self.writer.flush()

  def close(self):
    if self.writer is not None:
      self.writer.close()


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


def _open_data(config):
  """The train and eval sources, scanned: (train source, indices, eval source, indices)."""
  data = config.data
  train_source = input_pipeline.open_source(data, 'train')
  train_indices = input_pipeline.scan(
      train_source, gray_threshold=data.gray_threshold, name='train')
  eval_source = input_pipeline.open_source(data, 'eval')
  eval_indices = input_pipeline.scan(eval_source, gray_threshold=0, name='eval')
  return train_source, train_indices, eval_source, eval_indices


def _train_data(config, mesh, source, indices, start_step: int):
  """Global training batches from `start_step` on: from the host pipeline, or
  gathered on the device when config.data.on_device."""
  steps = range(start_step, config.num_train_steps)
  if config.data.on_device:
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(AXIS))
    dataset = input_pipeline.DeviceDataset(
        config.data, source, indices, seed=config.seed,
        global_batch=config.global_batch_size, sharding=sharding)
    return (dataset.batch(step) for step in steps)
  host = input_pipeline.train_batches(
      config.data, source, indices, global_batch=config.global_batch_size,
      start_step=start_step, num_steps=config.num_train_steps, seed=config.seed)
  return (shard_batch(mesh, batch) for batch in host)


def _restore_or_init(mngr, state, workdir):
  """The latest checkpoint's state if the run has one, else `state`."""
  try:
    restored = checkpoint.restore(mngr, state)
  except (ValueError, KeyError) as e:
    raise ConfigError(
        f'The checkpoint in {workdir}/checkpoints does not fit this config '
        f'({str(e).splitlines()[0][:200]}); use a new --workdir, or the config '
        'that wrote it.') from e
  if restored is None:
    return state
  logging.info('Resuming from step %d in %s.', int(restored[0].step), workdir)
  return restored[0]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       mesh: jax.sharding.Mesh | None = None) -> TrainState:
  """Trains (resuming from the workdir's latest checkpoint) and evaluates.

  Args:
    config: the run's config (see configs/default.py).
    workdir: where checkpoints and logs go.
    mesh: the devices to train on (default `make_mesh()`: all of them).

  Returns:
    The final train state.
  """
  mesh = mesh or make_mesh()
  validate_config(config, mesh.size)
  os.makedirs(workdir, exist_ok=True)
  train_source, train_indices, eval_source, eval_indices = _open_data(config)

  rng_init, rng_steps = jax.random.split(jax.random.key(config.seed))
  model = create_model(config, axis_name=AXIS)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  mngr = checkpoint.manager(workdir, keep=config.keep_checkpoints)
  # A warm start is only read when the run has no checkpoint of its own.
  generator = None
  if config.gan.enabled and config.gan.init_from and mngr.latest_step() is None:
    generator = generator_warm_start(config, model, replicated)
  state = jax.jit(functools.partial(create_state, config, model=model),
                  out_shardings=replicated)(rng_init, generator)
  state = _restore_or_init(mngr, state, workdir)
  start_step = int(state.step)

  class_weights = None
  if heads.head(config) == 'classification':
    try:
      class_weights = prior.class_weights(config, workdir, train_source,
                                          train_indices)
    except ValueError as e:
      raise ConfigError(str(e)) from e
  p_train_step = make_train_step(mesh, config, class_weights)
  p_eval_step = jax.jit(functools.partial(
      eval_step, model=inference_model(config, class_weights)))
  train_data = _train_data(config, mesh, train_source, train_indices, start_step)
  eval_data = input_pipeline.eval_batches(
      config.data, eval_source, eval_indices,
      global_batch=config.eval.batch_size)

  total = config.num_train_steps
  reporter = _Reporter(workdir, total, config.global_batch_size)
  pending, last_saved = [], mngr.latest_step()
  try:
    for step in range(start_step + 1, total + 1):
      state, metrics = p_train_step(state, next(train_data), rng_steps)
      pending.append((step, metrics))
      if step == start_step + 1:
        reporter.start_clock(step, metrics)
      if _is_time(step, config.log_every_steps, total):
        reporter.train(step, _check_finite(pending, last_saved, workdir))
      if _is_time(step, config.eval_every_steps, total):
        with reporter.paused(state):
          variables = {'params': state.params, 'batch_stats': state.batch_stats}
          reporter.eval(step, *evaluate(p_eval_step, variables, eval_data, mesh,
                                        config.image_grid_size))
      if _is_time(step, config.checkpoint_every_steps, total):
        with reporter.paused(state):
          _check_finite(pending, last_saved, workdir)
          checkpoint.save(mngr, step, state, config, class_weights=class_weights)
        last_saved = step
  finally:
    mngr.wait_until_finished()
    mngr.close()
    reporter.close()
  return state

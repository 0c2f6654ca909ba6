"""The optimiser of every task: Adam (the seed's) with a warm-up schedule; a
pretrained encoder's parameters (those under 'encoder') may take a smaller
learning rate or stay fixed for the first steps."""

import jax
import jax.numpy as jnp
import optax

ENCODER = 'encoder'  # The top-level parameter name of a pretrained encoder.

SCHEDULES = ('constant', 'cosine')


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


def encoder_schedule(config, schedule) -> optax.Schedule:
  """The encoder's learning rate: 0 for config.opt.encoder_frozen_steps, then
  config.opt.encoder_lr_scale times `schedule`."""
  frozen, scale = config.opt.get('encoder_frozen_steps', 0), config.opt.get('encoder_lr_scale', 1.0)
  return lambda step: jnp.where(step < frozen, 0.0, scale * schedule(step))


def _labels(params):
  """'encoder' for a pretrained encoder's parameters, 'rest' for the others."""
  return {name: jax.tree.map(lambda _, n=name: ENCODER if n == ENCODER else 'rest', tree)
          for name, tree in params.items()}


def create_optimizer(config, schedule, b1: float | None = None) -> optax.GradientTransformation:
  """Adam, with optional global-norm clipping; with config.opt.encoder_lr_scale
  or encoder_frozen_steps set, the parameters under 'encoder' get
  `encoder_schedule` (an optax partition; Adam's moments are per parameter,
  so the two halves are each exactly Adam)."""
  b1 = config.opt.b1 if b1 is None else b1
  adam = lambda lr: optax.adam(lr, b1=b1, b2=config.opt.b2)
  tx = adam(schedule)
  if (config.opt.get('encoder_lr_scale', 1.0) != 1.0
      or config.opt.get('encoder_frozen_steps', 0) > 0):
    tx = optax.multi_transform({ENCODER: adam(encoder_schedule(config, schedule)), 'rest': tx},
                               _labels)
  if config.opt.grad_clip_norm > 0:
    return optax.chain(optax.clip_by_global_norm(config.opt.grad_clip_norm), tx)
  return tx

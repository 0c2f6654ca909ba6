"""The optimiser of every task: Adam (the seed's) with a warm-up schedule."""

import optax

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


def create_optimizer(config, schedule, b1: float | None = None) -> optax.GradientTransformation:
  """Adam, with optional global-norm clipping."""
  adam = optax.adam(schedule, b1=config.opt.b1 if b1 is None else b1, b2=config.opt.b2)
  if config.opt.grad_clip_norm > 0:
    return optax.chain(optax.clip_by_global_norm(config.opt.grad_clip_norm), adam)
  return adam

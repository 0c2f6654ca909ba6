"""Regression: the network returns normalised ab (tanh), trained with MSE
(the seed study's loss) or L1 (`config.loss`)."""

import jax.numpy as jnp

from colorjax.tasks import base

LOSSES = {
    'mse': lambda pred, true: jnp.mean(jnp.square(pred - true)),
    'l1': lambda pred, true: jnp.mean(jnp.abs(pred - true)),
}


class Regression(base.Task):
  """config.model.head = 'regression' (the default)."""
  name = 'regression'

  def validate(self, config) -> None:
    base.check(config.loss in LOSSES,
               f'config.loss must be one of {sorted(LOSSES)}, not {config.loss!r}.')

  def loss(self, config, extras):
    del extras
    return LOSSES[config.loss]


TASK = Regression()

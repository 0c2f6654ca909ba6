"""What a network's output means, and the network a run's config describes.

Two heads:
  'regression'      the network returns normalised ab (tanh), trained with
                    MSE or L1 (`config.loss`);
  'classification'  it returns logits over the ab bins of
                    `colorjax.classification`, trained with the rebalanced
                    cross-entropy and decoded by the annealed mean.

`inference_model` hides the difference: its `apply` returns normalised ab for
either head, so evaluation, colorize and serve need not know which one a
checkpoint holds (its stored config says, and for the classification head also
holds the class weights that training used, for logit adjustment).
"""

import jax.numpy as jnp

from colorjax import classification
from colorjax import models

HEADS = ('regression', 'classification')


def head(config) -> str:
  """The head of a run's config (a ConfigDict, or the dict a checkpoint stores)."""
  return config['model'].get('head', 'regression')  # Older runs had no head.


def create_model(config, *, dtype=jnp.float32, axis_name: str | None = None):
  """The network itself: for the classification head, Q logits per pixel."""
  num_logits = classification.num_bins() if head(config) == 'classification' else 0
  return models.from_config(config['model'], dtype=dtype, axis_name=axis_name,
                            num_logits=num_logits)


def inference_model(config, *, dtype=jnp.float32, temperature: float | None = None,
                    adjustment: float | None = None, class_weights=None):
  """The network as a function of l that returns normalised ab, whatever its head.

  Args:
    temperature: the classification head's annealed-mean temperature (default:
      the config's); ignored by the regression head.
    adjustment: the classification head's logit adjustment (default: the
      config's, 0 for runs that predate it); see `classification.Decoded`.
    class_weights: the rebalancing weights the network trained with (default:
      those its checkpoint stores in the config).
  """
  net = create_model(config, dtype=dtype)
  if head(config) != 'classification':
    return net
  cls = config['classification']
  if temperature is None:
    temperature = cls['temperature']
  if adjustment is None:
    adjustment = cls.get('adjustment', 0.0)
  if class_weights is None:
    class_weights = cls.get('class_weights') or None
  return classification.Decoded(net, classification.ab_bins(), temperature,
                                adjustment=adjustment, class_weights=class_weights)

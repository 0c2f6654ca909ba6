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


def saturate(ab, saturation: float):
  """Normalised ab with their chroma multiplied by `saturation`, clipped to the
  normalised range (colour is then fitted into the gamut at each L when it is
  composed; `colorjax.color.compose`)."""
  return ab if saturation == 1 else jnp.clip(saturation * ab, -1.0, 1.0)


class Saturated:
  """A model whose ab output `saturate` scales: the MSE optimum is the
  conditional mean of the colour, which is greyer than any one plausible
  colour where the network is unsure; a saturation above 1, chosen on
  held-out photos (`colorjax.tune`), spends some PSNR on colour."""

  def __init__(self, model, saturation: float):
    self.model, self.saturation = model, saturation

  def apply(self, variables, l, **kwargs):
    return saturate(self.model.apply(variables, l, **kwargs), self.saturation)

  def __getattr__(self, name):  # The wrapped model's init, temperature, ...
    return getattr(self.__dict__['model'], name)


def inference_model(config, *, dtype=jnp.float32, temperature: float | None = None,
                    adjustment: float | None = None, saturation: float | None = None,
                    class_weights=None):
  """The network as a function of l that returns normalised ab, whatever its head.

  Args:
    temperature: the classification head's annealed-mean temperature (default:
      the config's); ignored by the regression head.
    adjustment: the classification head's logit adjustment (default: the
      config's, 0 for runs that predate it); see `classification.Decoded`.
    saturation: chroma gain on the output ab, either head (default: the
      config's model.saturation, 1 when absent); see `Saturated`.
    class_weights: the rebalancing weights the network trained with (default:
      those its checkpoint stores in the config).

  Raises:
    ValueError: a saturation that is not positive.
  """
  if saturation is None:
    saturation = config['model'].get('saturation', 1.0)
  if not saturation > 0:
    raise ValueError(f'The saturation must be a positive number (1: as trained), '
                     f'not {saturation!r}.')
  net = create_model(config, dtype=dtype)
  if head(config) == 'classification':
    cls = config['classification']
    if temperature is None:
      temperature = cls['temperature']
    if adjustment is None:
      adjustment = cls.get('adjustment', 0.0)
    if class_weights is None:
      class_weights = cls.get('class_weights') or None
    net = classification.Decoded(net, classification.ab_bins(), temperature,
                                 adjustment=adjustment, class_weights=class_weights)
  return net if saturation == 1 else Saturated(net, float(saturation))

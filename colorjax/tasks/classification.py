"""Classification (Zhang, Isola and Efros 2016): the network returns logits
over the ab bins of `colorjax.classification`, is trained with the
rebalanced cross-entropy and decodes by the annealed mean, optionally with
logit adjustment (`classification.Decoded`).

The class weights come from the training data's ab prior (`colorjax.prior`)
and are stored in every checkpoint's config as
classification.class_weights, so any checkpoint or export decodes with logit
adjustment without the prior file.
"""

import jax.numpy as jnp
import numpy as np

from colorjax import classification
from colorjax import color
from colorjax import models
from colorjax import prior
from colorjax.errors import ConfigError
from colorjax.tasks import base


class Classification(base.Task):
  """config.model.head = 'classification'."""
  name = 'classification'
  decoding = ('temperature', 'adjustment', 'confidence', 'scene_chroma', 'saturation')

  def create_model(self, config, *, dtype=jnp.float32, axis_name=None):
    return models.from_config(config['model'], dtype=dtype, axis_name=axis_name,
                              num_logits=classification.num_bins())

  def prepare(self, config, workdir, source, indices):
    try:
      weights = prior.class_weights(config, workdir, source, indices)
    except ValueError as e:
      raise ConfigError(str(e)) from e
    return {'class_weights': weights}

  def loss(self, config, extras):
    cls, bins = config.classification, classification.ab_bins()
    weights = extras.get('class_weights')
    if weights is None:
      weights = np.ones(len(bins), np.float32)

    scene_weight = cls.get('scene_weight', 0.0)
    excess_only = cls.get('scene_excess_only', False)

    def loss(logits, ab):
      ab = ab * color.AB_SCALE
      total = classification.rebalanced_cross_entropy(
          logits, ab, bins, weights, neighbours=cls.neighbours, sigma=cls.sigma)
      if scene_weight:
        total = total + scene_weight * classification.scene_chroma_loss(
            logits, ab, bins, weights, excess_only=excess_only)
      return total
    return loss

  def stored_config(self, config, extras):
    record = super().stored_config(config, extras)
    if extras.get('class_weights') is not None:
      record['classification']['class_weights'] = [
          float(w) for w in extras['class_weights']]
    return record

  def store_decoding(self, record, settings):
    super().store_decoding(record, settings)
    record['classification'].update(  # The base class stores the saturation.
        {k: float(settings[k]) for k in self.decoding if k != 'saturation' and k in settings})

  def _decoded(self, config, net, temperature, adjustment, confidence, scene_chroma,
               class_weights):
    cls = config['classification']
    if temperature is None:
      temperature = cls['temperature']
    if adjustment is None:
      adjustment = cls.get('adjustment', 0.0)  # 0 for runs that predate it.
    if confidence is None:
      confidence = cls.get('confidence', 0.0)  # Likewise.
    if scene_chroma is None:
      scene_chroma = cls.get('scene_chroma', 0.0)  # Likewise.
    if class_weights is None:
      class_weights = cls.get('class_weights') or None
    return classification.Decoded(net, classification.ab_bins(), temperature,
                                  adjustment=adjustment, confidence=confidence,
                                  scene_chroma=scene_chroma, class_weights=class_weights)

  def decoder(self, config, *, temperature=None, adjustment=None, confidence=None,
              scene_chroma=None, saturation: float = 1.0, class_weights=None):
    decoded = self._decoded(config, None, temperature, adjustment, confidence,
                            scene_chroma, class_weights)
    return lambda logits: base.saturate(decoded.decode(logits), saturation)

  def inference_model(self, config, *, dtype=jnp.float32,
                      temperature: float | None = None, adjustment: float | None = None,
                      confidence: float | None = None, scene_chroma: float | None = None,
                      saturation: float | None = None, class_weights=None):
    """The network decoded to normalised ab.

    Args:
      temperature: the annealed-mean temperature (default: the config's).
      adjustment: the logit adjustment (default: the config's); see
        `classification.Decoded`.
      confidence: the confidence weighting (default: the config's, 0: off);
        see `classification.Decoded`.
      scene_chroma: the scene gate (default: the config's, 0: off); see
        `classification.Decoded`.
      saturation: chroma gain on the decoded ab (default: the config's, 1).
      class_weights: the rebalancing weights the network trained with
        (default: those its checkpoint stores in the config).
    """
    saturation = base.stored_saturation(config, saturation)
    net = self._decoded(config, self.create_model(config, dtype=dtype),
                        temperature, adjustment, confidence, scene_chroma, class_weights)
    return net if saturation == 1 else base.Saturated(net, saturation)

  def tuning_grid(self, *, adjustments, temperatures, confidences=(0.0,),
                  scene_chromas=(0.0,), **unused):
    del unused
    return [{'adjustment': a, 'temperature': t, 'confidence': c, 'scene_chroma': g,
             'saturation': 1.0}
            for a in adjustments for t in temperatures for c in confidences
            for g in scene_chromas]


TASK = Classification()

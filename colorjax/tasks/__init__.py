"""The training tasks, one module each, and which one a config asks for.

  regression      (config.model.head = 'regression', the default) ab, MSE or L1
  classification  (config.model.head = 'classification') logits over ab bins
  gan             (config.gan.enabled) the regression network as a GAN generator

Each module defines a `base.Task` and registers it below; the training loop,
checkpoints, evaluation, export and tuning call `of(config)` and the task's
methods. A new task is one new module and one line in REGISTRY; a config
chooses it with config.model.head = its name (see docs/architecture.md).
"""

from colorjax import hints
from colorjax.errors import ConfigError
from colorjax.tasks import classification
from colorjax.tasks import gan
from colorjax.tasks import regression
from colorjax.tasks.base import Task

REGISTRY: dict[str, Task] = {
    'regression': regression.TASK,
    'classification': classification.TASK,
    'gan': gan.TASK,
}


def head(config) -> str:
  """The head of a run's config (a ConfigDict, or the dict a checkpoint stores)."""
  return config['model'].get('head', 'regression')  # Older runs had no head.


def name_of(config) -> str:
  """The task a config (or a checkpoint's config dict) trains."""
  gan_config = config.get('gan') or {}
  return 'gan' if gan_config.get('enabled') else head(config)


def of(config) -> Task:
  """The task of a config.

  Raises:
    ConfigError: config.model.head names no task.
  """
  name = name_of(config)
  if name not in REGISTRY:
    heads = tuple(n for n in REGISTRY if n != 'gan')  # gan: config.gan.enabled.
    raise ConfigError(f'config.model.head must be one of {heads}, not {name!r}.')
  return REGISTRY[name]


def inference_model(config, **settings):
  """The network of a config as a function of l that returns normalised ab
  (see `Task.inference_model` for the settings); for a hint-conditioned
  network, with its hint propagation (settings hint_spread, hint_lightness,
  hint_reach, hint_method; see `hints.propagation_settings`)."""
  given = {k: settings.pop(k, None) for k in hints.PROPAGATION_KEYS}
  model = of(config).inference_model(config, **settings)
  propagation = hints.propagation_settings(config, **given)  # Given, else stored.
  if not hints.enabled(config):
    if propagation is not None or any(v for v in given.values()):
      raise ValueError('Hint propagation is for a model trained with colour hints '
                       '(config.hints.enabled); this one reads none.')
    return model
  return model if propagation is None else hints.Propagated(model, propagation)

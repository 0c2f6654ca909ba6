"""The task interface, and what the supervised tasks share.

A task is one kind of training: what the network predicts, its loss and
per-device train step, how its output decodes to ab for inference, its
config checks, and what a checkpoint stores beside the train state. The
training loop (`colorjax.train`), checkpoints, evaluation, export and tuning
reach a task only through the methods of `Task`, so they hold no branch on
the kind of task; `colorjax.tasks` names the tasks and picks a config's.

Inference is the same for every task: `inference_model(config)` is a
network whose `apply(variables, l, train=False)` returns normalised ab, so
evaluation, colorize and serve need not know which task trained a checkpoint.
"""

import functools
from typing import Any, Callable

from absl import logging
from flax import traverse_util
import flax.linen as nn
from flax.training import train_state
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import optax

from colorjax import checkpoint
from colorjax import color
from colorjax import hints
from colorjax import models
from colorjax import optim
from colorjax.errors import ConfigError
from colorjax.parallel import AXIS


HINT_STREAM = 1  # fold_in index of the step's key that hints draw from.


class TrainState(train_state.TrainState):
  batch_stats: Any = None  # BatchNorm running statistics ({} without BatchNorm).


def saturate(ab, saturation: float):
  """Normalised ab with their chroma multiplied by `saturation`, clipped to the
  normalised range (colour is then fitted into the gamut at each L when it is
  composed; `colorjax.color.compose`)."""
  return ab if saturation == 1 else jnp.clip(saturation * ab, -1.0, 1.0)


class Saturated(models.Wrapped):
  """A model whose ab output `saturate` scales: the MSE optimum is the
  conditional mean of the colour, which is greyer than any one plausible
  colour where the network is unsure; a saturation above 1, chosen on
  held-out photos (`colorjax.tune`), spends some PSNR on colour."""

  def __init__(self, model, saturation: float):
    super().__init__(model)
    self.saturation = saturation

  def after(self, x, out):
    return saturate(out, self.saturation)


def dtype(config):
  """The computation dtype of a training config."""
  return jnp.bfloat16 if config.half_precision else jnp.float32


def stored_saturation(config, saturation: float | None) -> float:
  """`saturation`, or the config's model.saturation (1 when absent), checked.

  Raises:
    ValueError: a saturation that is not positive.
  """
  if saturation is None:
    saturation = config['model'].get('saturation', 1.0)
  if not saturation > 0:
    raise ValueError(f'The saturation must be a positive number (1: as trained), '
                     f'not {saturation!r}.')
  return float(saturation)


def model_input(config, l, ab=None, key=None, first: int = 0):
  """What the network reads: l, or with config.hints.enabled, l with colour
  hints simulated from the true `ab` with `key` (`colorjax.hints`; none
  when key is None); `first`: this batch's position in the global batch."""
  if not hints.enabled(config):
    return l
  if key is None:
    return hints.without_hints(l)
  return hints.network_input(l, *hints.simulate_batch(key, ab, first, hints.placement(config)))


def supervised_step(state: TrainState, batch, rng, *, loss_fn: Callable,
                    learning_rate_fn: optax.Schedule, input_fn: Callable = None):
  """One optimiser step of a network trained against the true ab, run on each
  device with its slice of the batch.

  Args:
    state: the replicated train state.
    batch: {'rgb': uint8 [local_batch, height, width, 3]}.
    rng: the run's key; this step's randomness is fold_in(rng, step).
    loss_fn: (network output, normalised true ab) -> scalar.
    learning_rate_fn: the schedule, for logging.
    input_fn: (l, true ab, key, first) -> what the network reads
      (`model_input`; key: the step's, the same on every device; first: this
      device's position in the global batch); default l.

  Returns:
    (new state, metrics), both identical on every device.
  """
  step_rng = jax.random.fold_in(rng, state.step)
  rng = jax.random.fold_in(step_rng, lax.axis_index(AXIS))
  l, ab = color.normalize(color.rgb_to_lab(batch['rgb']))
  inputs = l
  if input_fn is not None:
    inputs = input_fn(l, ab, jax.random.fold_in(step_rng, HINT_STREAM),
                      lax.axis_index(AXIS) * l.shape[0])

  def loss_and_updates(params):
    outputs, updates = state.apply_fn(
        {'params': params, 'batch_stats': state.batch_stats}, inputs, train=True,
        mutable=['batch_stats'], rngs={'dropout': rng})
    with jax.named_scope('loss'):  # Named in profiles (benchmarks/profile_step.py).
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


def load_variables(path: str, setting: str, config, model, sharding):
  """params and batch_stats of the checkpoint at `path` (a run or step
  directory; None when empty), placed with `sharding` (see `checkpoint.load`).

  The checkpoint may hold the same network without colour hints or with
  another head (`adapt_variables`): an automatic run starts a hint network,
  a classification run an MSE one. Raises ConfigError, naming `setting`,
  when it is missing or holds another network than `model`."""
  if not path:
    return None
  try:
    state, _ = checkpoint.load(path, sharding=sharding)
  except FileNotFoundError as e:
    raise ConfigError(f'{setting}: {e}') from e
  variables = {'params': state['params'], 'batch_stats': state['batch_stats']}
  init = lambda: init_variables(model, jax.random.fold_in(jax.random.key(config.seed), 1),
                                32, hints.input_channels(config))
  expected = jax.eval_shape(init)
  if jax.tree.structure(expected) != jax.tree.structure(variables) or any(
      a.shape != b.shape for a, b in zip(jax.tree.leaves(expected),
                                         jax.tree.leaves(variables))):
    try:
      variables, changes = adapt_variables(variables, jax.device_get(jax.jit(init)()))
    except ValueError as e:
      raise ConfigError(f'{setting} ({path}) holds another network than config.model '
                        f'and config.hints describe ({e}); start from a run of the same '
                        'network settings.') from e
    logging.info('Starting from %s with %s.', path, '; '.join(changes))
    return jax.device_put(variables, sharding)
  logging.info('Starting from the parameters of %s.', path)
  return variables


# Top-level modules init_from may start fresh.
ADAPTABLE_MODULES = ('head', 'hint_stem', 'hint_decoder', 'hint_encoder')


def adapt_variables(variables, fresh):
  """A run's variables fitted to a network that differs from the run's only
  by colour hints or its head, and what changed.

  `fresh` is the new network's initial variables. A hint branch the run
  lacks (`ADAPTABLE_MODULES`) starts as initialised (the encoder's
  `hint_stem`, `hint_decoder` and `hint_encoder` at zero); a convolution
  that now reads more input channels keeps the run's kernel for the
  channels it had and reads the new ones (the hint ab and mask) with zero
  weights, so the network starts out computing what the run computed; a
  head of another size (ab against logits) starts as initialised. Raises
  ValueError for any other difference."""
  have = traverse_util.flatten_dict(jax.device_get(variables))
  want = traverse_util.flatten_dict(fresh)
  if extra := sorted('/'.join(k) for k in have.keys() - want.keys()):
    raise ValueError(f'it has {extra[0]}, which this network lacks')
  out, fresh_modules, widened = {}, set(), []
  for key, value in want.items():
    module = key[1] if len(key) > 2 else ''
    old = have.get(key)
    if old is not None and old.shape == value.shape:
      out[key] = old
    elif module in ADAPTABLE_MODULES:
      out[key] = value
      fresh_modules.add(module)
    elif (old is not None and key[-1] == 'kernel' and old.ndim == value.ndim >= 3
          and old.shape[:-2] == value.shape[:-2] and old.shape[-1] == value.shape[-1]
          and old.shape[-2] < value.shape[-2]):
      pad = [(0, 0)] * old.ndim
      pad[-2] = (0, value.shape[-2] - old.shape[-2])
      out[key] = np.pad(old, pad)
      widened.append('/'.join(key[1:-1]))
    else:
      name = '/'.join(key)
      raise ValueError(f'{name} is missing' if old is None else
                       f'{name} has shape {old.shape}, not {value.shape}')
  changes = [f'{m} as initialised' for m in sorted(fresh_modules)]
  if widened:
    changes.append(f'zero weights on the new input channels of {", ".join(widened)}')
  return traverse_util.unflatten_dict(out), changes


def pretrained_start(config, model, sharding):
  """A fresh network (seeded by config.seed) whose pretrained encoder holds
  its ImageNet weights (`models.with_pretrained_encoder`), placed with
  `sharding`; None for a network without one."""
  if config['model']['name'] != 'encoder_unet' or not config['model'].get('encoder_weights'):
    return None
  variables = jax.jit(init_variables, static_argnums=(0, 2, 3))(
      model, jax.random.fold_in(jax.random.key(config.seed), 1), config.data.image_size,
      hints.input_channels(config))
  try:
    variables = models.with_pretrained_encoder(config['model'], variables)
  except (FileNotFoundError, ValueError) as e:
    raise ConfigError(f'config.model.encoder_weights: {e}') from e
  logging.info('Starting the encoder from the ImageNet weights of EfficientNet-%s.',
               config['model']['encoder'])
  return jax.device_put(variables, sharding)


class Task:
  """One kind of training. The base class is a supervised task whose network
  returns what `loss` compares with the true ab; subclasses override what
  differs.

  Attributes:
    name: the task's name in `colorjax.tasks.REGISTRY`.
    decoding: the inference settings it takes (`inference_model`'s keyword
      arguments), which `colorjax.tune` chooses and an export may store.
  """
  name = ''
  decoding = ('saturation',)

  def validate(self, config) -> None:
    """Raises ConfigError naming the first task setting that cannot work."""

  def create_model(self, config, *, dtype=jnp.float32,
                   axis_name: str | None = None) -> nn.Module:
    """The network a config (or a checkpoint's config dict) describes."""
    return models.from_config(config['model'], dtype=dtype, axis_name=axis_name)

  def prepare(self, config, workdir: str, source, indices) -> dict:
    """What the step and the checkpoint need from the training data (e.g. the
    classification task's class weights), computed once per run."""
    del config, workdir, source, indices
    return {}

  def warm_start(self, config, model, sharding):
    """Variables to start a fresh run from: those of config.init_from, else a
    network with a pretrained encoder's ImageNet weights (`pretrained_start`),
    else None (random initialisation); read only when the run has no
    checkpoint of its own."""
    warm = load_variables(config.get('init_from', ''), 'config.init_from',
                          config, model, sharding)
    return warm if warm is not None else pretrained_start(config, model, sharding)

  def create_state(self, config, rng, model, warm=None):
    """The fresh train state, from `warm` variables if given."""
    tx = optim.create_optimizer(config, optim.learning_rate_schedule(config))
    variables = warm or init_variables(model, rng, config.data.image_size,
                                       hints.input_channels(config))
    return TrainState.create(apply_fn=model.apply, params=variables['params'],
                             tx=tx, batch_stats=variables.get('batch_stats', {}))

  def loss(self, config, extras: dict) -> Callable:
    """(network output, normalised true ab) -> scalar."""
    raise NotImplementedError

  def train_step(self, config, extras: dict) -> Callable:
    """The per-device step (state, batch, rng) -> (state, metrics), which
    averages over `parallel.AXIS` itself; `parallel.map_step` maps it."""
    return functools.partial(supervised_step, loss_fn=self.loss(config, extras),
                             learning_rate_fn=optim.learning_rate_schedule(config),
                             input_fn=functools.partial(model_input, config))

  def stored_config(self, config, extras: dict) -> dict:
    """The config record a checkpoint stores (what inference needs to decode)."""
    del extras
    return config.to_dict()

  def decoder(self, config, *, saturation: float = 1.0) -> Callable:
    """network output -> normalised ab, with the given decoding settings."""
    del config
    return lambda out: saturate(out, saturation)

  def store_decoding(self, record: dict, settings: dict) -> None:
    """Writes decoding `settings` (of `decoding`) into a checkpoint's config
    record as the model's defaults."""
    if 'saturation' in settings:
      record['model']['saturation'] = float(settings['saturation'])

  def inference_model(self, config, *, dtype=jnp.float32,
                      saturation: float | None = None, **unused):
    """The network as a function of l that returns normalised ab.

    Args:
      saturation: chroma gain on the output ab (default: the config's
        model.saturation, 1 when absent); see `Saturated`.

    Raises:
      ValueError: a setting it cannot use.
    """
    del unused  # Settings of other tasks (e.g. a temperature) do not apply.
    saturation = stored_saturation(config, saturation)
    net = self.create_model(config, dtype=dtype)
    return net if saturation == 1 else Saturated(net, saturation)

  def tuning_grid(self, *, saturations, **unused) -> list[dict]:
    """The decoding settings `colorjax.tune` scores."""
    del unused
    return [{'saturation': s} for s in saturations]


def init_variables(model, rng, image_size: int, channels: int = 1):
  """Fresh variables of a network of input [1, image_size, image_size,
  channels] (1: l; `hints.CHANNELS` with hints)."""
  return model.init(rng, jnp.zeros((1, image_size, image_size, channels)), train=False)


def check(ok: bool, message: str) -> None:
  """Raises ConfigError(message) unless ok."""
  if not ok:
    raise ConfigError(message)

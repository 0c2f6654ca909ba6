"""Adversarial training (pix2pix, Isola et al. 2017): the network as generator.

A 70x70 PatchGAN discriminator sees the lightness with either the true or the
generated ab and scores every 70x70 patch real or fake; the generator is
trained to fool it plus `gan.l1_weight` times the L1 distance to the true ab
(100 by default, as in pix2pix), which keeps the colours where they belong
while the adversarial term pushes them off the desaturated average.

Both networks live in one `GANState` (the generator's fields are those of
`base.TrainState`, so evaluation, export, colorize and serve read a GAN run
like a regression run), each with its own optax optimiser. `gan_step` is a
per-device step like the supervised one: gradients of both networks are
averaged over the device axis with `lax.pmean`. The task (`GAN`, chosen by
config.gan.enabled) can start the generator from a regression run
(config.gan.init_from).
"""

import functools
from typing import Any, Callable, Sequence


from flax import struct
import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp
import optax

from colorjax import color
from colorjax import hints
from colorjax import optim
from colorjax.parallel import AXIS
from colorjax.tasks import base
from colorjax.tasks import regression

LOSSES = ('nonsaturating', 'lsgan')


class PatchGAN(nn.Module):
  """The 70x70 PatchGAN of pix2pix, conditioned on the lightness.

  4x4 convolutions C64-C128-C256 (stride 2), C512 (stride 1) and a 1-channel
  output (stride 1), LeakyReLU 0.2, instance normalisation after all but the
  first; the convolutions give each output logit a 70x70 patch of the input. Input: normalised
  l [b, h, w, 1] and ab [b, h, w, 2]; output: logits [b, h/8 - 2, w/8 - 2, 1]
  (float32).
  """
  widths: Sequence[int] = (64, 128, 256, 512)
  norm: bool = True  # Instance normalisation (per image, so it sees the whole image).
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, l, ab):
    x = jnp.concatenate([l, ab], axis=-1).astype(self.dtype)
    strides = [2] * (len(self.widths) - 1) + [1]
    for i, (width, stride) in enumerate(zip(self.widths, strides)):
      normalised = i > 0 and self.norm
      # No bias before a normalisation, which would subtract it again: its
      # gradient is zero up to rounding, and Adam would amplify that noise.
      x = nn.Conv(width, (4, 4), strides=stride, padding=1, use_bias=not normalised,
                  dtype=self.dtype, name=f'conv{i}')(x)
      if normalised:
        x = nn.InstanceNorm(dtype=self.dtype, name=f'norm{i}')(x)
      x = nn.leaky_relu(x, 0.2)
    x = nn.Conv(1, (4, 4), padding=1, dtype=self.dtype, name='logits')(x)
    return x.astype(jnp.float32)


def discriminator_loss(real, fake, kind: str):
  """The discriminator's loss on the logits of real and generated pairs."""
  if kind == 'lsgan':
    return 0.5 * (jnp.mean(jnp.square(real - 1)) + jnp.mean(jnp.square(fake)))
  # Binary cross-entropy with targets 1 (real) and 0 (fake), halved as pix2pix.
  return 0.5 * (jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake)))


def generator_loss(fake, kind: str):
  """The generator's adversarial loss on the discriminator's fake logits."""
  if kind == 'lsgan':
    return 0.5 * jnp.mean(jnp.square(fake - 1))
  return jnp.mean(jax.nn.softplus(-fake))  # Non-saturating: -log D(fake).


class GANState(struct.PyTreeNode):
  """Generator (TrainState's fields) and discriminator, one optimiser each."""
  step: jax.Array
  apply_fn: Callable = struct.field(pytree_node=False)
  params: Any = None
  batch_stats: Any = None
  tx: optax.GradientTransformation = struct.field(pytree_node=False, default=None)
  opt_state: Any = None
  disc_apply_fn: Callable = struct.field(pytree_node=False, default=None)
  disc_params: Any = None
  disc_tx: optax.GradientTransformation = struct.field(pytree_node=False, default=None)
  disc_opt_state: Any = None


def create_state(rng, model, disc, tx, disc_tx, image_size: int,
                 generator=None, channels: int = 1) -> GANState:
  """Fresh networks and optimiser states; `generator`, if given, is a dict of
  params and batch_stats to start the generator from (a warm start);
  `channels`: what the generator reads (1: l; 4 with hints)."""
  rng_g, rng_d = jax.random.split(rng)
  l = jnp.zeros((1, image_size, image_size, 1))
  variables = generator or base.init_variables(model, rng_g, image_size, channels)
  disc_params = disc.init(rng_d, l, jnp.zeros(l.shape[:-1] + (2,)))['params']
  return GANState(
      step=jnp.zeros((), jnp.int32), apply_fn=model.apply,
      params=variables['params'], batch_stats=variables.get('batch_stats', {}),
      tx=tx, opt_state=tx.init(variables['params']),
      disc_apply_fn=disc.apply, disc_params=disc_params, disc_tx=disc_tx,
      disc_opt_state=disc_tx.init(disc_params))


def gan_step(state: GANState, batch, rng, *, axis: str, loss: str,
             l1_weight: float, learning_rate_fn: optax.Schedule,
             input_fn: Callable = None):
  """One step of both networks, run on each device with its slice of the batch.

  Both are updated from the same pre-step state (simultaneous updates): the
  discriminator on real pairs against the generator's current output, the
  generator against the current discriminator.

  The discriminator judges (l, ab) pairs; the generator reads what
  `input_fn` gives (default l; with hints, l and hints; see
  `base.supervised_step`).

  Returns:
    (new state, metrics), both identical on every device.
  """
  l, ab = color.normalize(color.rgb_to_lab(batch['rgb']))
  inputs = l
  if input_fn is not None:
    step_rng = jax.random.fold_in(rng, state.step)
    inputs = input_fn(l, ab, jax.random.fold_in(step_rng, base.HINT_STREAM),
                      lax.axis_index(axis) * l.shape[0])
  discriminate = lambda params, ab: state.disc_apply_fn({'params': params}, l, ab)

  def generator_objective(params):
    ab_fake, updates = state.apply_fn(
        {'params': params, 'batch_stats': state.batch_stats}, inputs, train=True,
        mutable=['batch_stats'])
    adversarial = generator_loss(discriminate(state.disc_params, ab_fake), loss)
    l1 = jnp.mean(jnp.abs(ab_fake - ab))
    return adversarial + l1_weight * l1, (ab_fake, updates, adversarial, l1)

  def discriminator_objective(params, ab_fake):
    real = discriminate(params, ab)
    fake = discriminate(params, lax.stop_gradient(ab_fake))
    return discriminator_loss(real, fake, loss), (real, fake)

  (g_loss, (ab_fake, updates, adversarial, l1)), g_grads = jax.value_and_grad(
      generator_objective, has_aux=True)(state.params)
  (d_loss, (real, fake)), d_grads = jax.value_and_grad(
      discriminator_objective, has_aux=True)(state.disc_params, ab_fake)
  g_grads, d_grads = lax.pmean((g_grads, d_grads), axis)

  g_updates, opt_state = state.tx.update(g_grads, state.opt_state, state.params)
  d_updates, disc_opt_state = state.disc_tx.update(
      d_grads, state.disc_opt_state, state.disc_params)
  new_state = state.replace(
      step=state.step + 1,
      params=optax.apply_updates(state.params, g_updates), opt_state=opt_state,
      batch_stats=lax.pmean(updates.get('batch_stats', {}), axis),
      disc_params=optax.apply_updates(state.disc_params, d_updates),
      disc_opt_state=disc_opt_state)
  metrics = {
      'loss': g_loss, 'generator_adversarial': adversarial, 'generator_l1': l1,
      'discriminator_loss': d_loss,
      # The discriminator's mean belief that real / generated pairs are real.
      'discriminator_real': jnp.mean(jax.nn.sigmoid(real)),
      'discriminator_fake': jnp.mean(jax.nn.sigmoid(fake)),
  }
  metrics = lax.pmean(metrics, axis)
  metrics.update(grad_norm=optax.tree.norm(g_grads),
                 discriminator_grad_norm=optax.tree.norm(d_grads),
                 learning_rate=learning_rate_fn(state.step))
  return new_state, metrics


class GAN(regression.Regression):
  """config.gan.enabled: the regression network as the generator."""
  name = 'gan'

  def validate(self, config) -> None:
    base.check(config.model.get('head', 'regression') == 'regression',
               'config.gan.enabled needs config.model.head = "regression": the '
               'generator returns ab for the discriminator to judge.')
    base.check(config.gan.loss in LOSSES,
               f'config.gan.loss must be one of {LOSSES}, not {config.gan.loss!r}.')

  def warm_start(self, config, model, sharding):
    """params and batch_stats of the regression checkpoint config.gan.init_from
    (or config.init_from), placed with `sharding` (see `checkpoint.load`)."""
    if config.gan.init_from:
      return base.load_variables(config.gan.init_from, 'config.gan.init_from',
                                 config, model, sharding)
    return super().warm_start(config, model, sharding)

  def create_state(self, config, rng, model, warm=None) -> GANState:
    tx = optim.create_optimizer(config, optim.learning_rate_schedule(config))
    disc_tx = optim.create_optimizer(
        config, optim.learning_rate_schedule(config, config.gan.disc_learning_rate),
        b1=config.gan.disc_b1)
    disc = PatchGAN(widths=tuple(config.gan.disc_widths), dtype=base.dtype(config))
    return create_state(rng, model, disc, tx, disc_tx, config.data.image_size, warm,
                        hints.input_channels(config))

  def train_step(self, config, extras):
    del extras
    return functools.partial(gan_step, axis=AXIS, loss=config.gan.loss,
                             l1_weight=config.gan.l1_weight,
                             learning_rate_fn=optim.learning_rate_schedule(config),
                             input_fn=functools.partial(base.model_input, config))


TASK = GAN()

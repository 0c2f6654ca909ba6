"""Colour hints (Zhang, Zhu, Isola et al., "Real-Time User-Guided Image
Colorization with Learned Deep Priors", SIGGRAPH 2017).

A hint-conditioned network reads, instead of l alone, four channels:
l, the hint ab (normalised like the targets, 0 where there is no hint) and
the hint mask (1 on hinted pixels). `network_input` builds them.

Training hints are simulated from the truth, a pure function of the step's
key like every other random choice (`simulate`): the number of hints is
geometric with p = 1/8 (about one image in eight gets none, the mean is 7;
at most MAX_HINTS), each a square patch of side uniform in 1..9 px whose top
left corner is drawn around the centre (Gaussian, sd a quarter of the room
left, clipped), valued at the patch's mean true ab, as in the paper's code;
or, with placement 'uniform' (config.hints.placement), anywhere in the crop
with equal chance, as evaluation places them.
Evaluation hints (`evaluation_hints`) are N 6x6 patches at uniform random
positions, seeded per photo, the same for every model, each count's the
first N of one sequence. A person's hints are
points with a colour (`from_points`; in a JSON file, `load_file`), of which
only hue and saturation count. `reads_hints` tells a hint-conditioned network
from its variables, and `resize` carries hint maps to the working size.
At inference, `propagate` (a hint model's stored setting, chosen by
colorjax.tune on held-out photos) carries each hint's colour further across
pixels of its lightness than the network alone does.
"""

import json

import flax.errors
import jax
import jax.numpy as jnp
import numpy as np

from colorjax import color
from colorjax import images
from colorjax import models
from colorjax.errors import ConfigError

CHANNELS = 4  # l, hint a, hint b, mask.
MAX_HINTS = 32  # P(a geometric(1/8) count above 32) = (7/8)^33, about 1.2%.
EVAL_PATCH = 6
PLACEMENTS = ('centre', 'uniform')  # Where training hints lie: `simulate`.
_EVAL_DRAWS = 256  # Corners drawn per photo; a count takes the first ones (more when it asks more).


def enabled(config) -> bool:
  """Whether a config (or a checkpoint's config dict) conditions on hints."""
  return bool((config.get('hints') or {}).get('enabled', False))


def placement(config) -> str:
  """Where training hints are drawn (config.hints.placement, 'centre' when
  absent), checked.

  Raises:
    ConfigError: a placement that is not one of PLACEMENTS.
  """
  value = (config.get('hints') or {}).get('placement', 'centre')
  if value not in PLACEMENTS:
    raise ConfigError(f'config.hints.placement must be one of {PLACEMENTS}, not {value!r}.')
  return value


def input_channels(config) -> int:
  return CHANNELS if enabled(config) else 1


def network_input(l, hint_ab, mask):
  """[..., 4]: l, hint ab (0 outside hints) and the mask, as the network reads them."""
  mask = mask.astype(l.dtype)
  return jnp.concatenate([l, hint_ab.astype(l.dtype) * mask, mask], axis=-1)


def without_hints(l):
  """The network input of l with no hints: zero hint ab and mask."""
  return network_input(l, jnp.zeros(l.shape[:-1] + (2,), l.dtype), jnp.zeros_like(l))


def _patch_means(ab, tops, lefts, sizes):
  """Mean ab over each square patch, from an integral image. ab [h, w, 2]."""
  integral = jnp.pad(jnp.cumsum(jnp.cumsum(ab, axis=0), axis=1), ((1, 0), (1, 0), (0, 0)))
  bottoms, rights = tops + sizes, lefts + sizes
  total = (integral[bottoms, rights] - integral[tops, rights]
           - integral[bottoms, lefts] + integral[tops, lefts])
  return total / (sizes * sizes)[:, None].astype(ab.dtype)


def paint(ab, tops, lefts, sizes, active):
  """(hint ab [h, w, 2], mask [h, w, 1]) of square patches valued at their
  mean ab; where patches overlap, the later one wins."""
  height, width = ab.shape[:2]
  means = _patch_means(ab, tops, lefts, sizes)
  rows = jnp.arange(height)[None, :, None]
  cols = jnp.arange(width)[None, None, :]
  cover = ((rows >= tops[:, None, None]) & (rows < (tops + sizes)[:, None, None])
           & (cols >= lefts[:, None, None]) & (cols < (lefts + sizes)[:, None, None])
           & active[:, None, None])
  last = jnp.max(jnp.where(cover, jnp.arange(len(tops))[:, None, None], -1), axis=0)
  mask = last >= 0
  hint_ab = jnp.where(mask[..., None], means[jnp.maximum(last, 0)], 0.0)
  return hint_ab, mask[..., None].astype(ab.dtype)


def simulate(key, ab, *, p: float = 1 / 8, max_size: int = 9,
             max_hints: int = MAX_HINTS, placement: str = 'centre'):
  """Training hints for one image's normalised ab [h, w, 2] (see the module);
  `placement`: 'centre' (the paper's) or 'uniform' (evaluation's)."""
  height, width = ab.shape[:2]
  k_count, k_size, k_top, k_left = jax.random.split(key, 4)
  uniform = jax.random.uniform(k_count, minval=jnp.finfo(jnp.float32).tiny)
  count = jnp.minimum(jnp.floor(jnp.log(uniform) / jnp.log1p(-p)), max_hints)
  sizes = jax.random.randint(k_size, (max_hints,), 1, max_size + 1)
  sizes = jnp.minimum(sizes, min(height, width))

  def corner(k, extent):
    if placement == 'uniform':
      return jax.random.randint(k, (max_hints,), 0, extent - sizes + 1)
    room = (extent - sizes + 1).astype(jnp.float32)
    draw = room / 2 + room / 4 * jax.random.normal(k, (max_hints,))
    return jnp.clip(jnp.round(draw), 0, extent - sizes).astype(jnp.int32)
  active = jnp.arange(max_hints) < count
  return paint(ab, corner(k_top, height), corner(k_left, width), sizes, active)


def simulate_batch(key, ab, first: int = 0, placement: str = 'centre'):
  """`simulate` for each image of a batch [b, h, w, 2]: image i's key is
  fold_in(key, first + i), where `first` is the batch's position in the
  global batch, so the hints do not depend on how many devices share it."""
  keys = jax.vmap(lambda i: jax.random.fold_in(key, first + i))(jnp.arange(ab.shape[0]))
  return jax.vmap(lambda k, x: simulate(k, x, placement=placement))(keys, ab)


def evaluation_hints(ab, count: int, seed, *, size: int = EVAL_PATCH):
  """`count` size x size hints at uniform random positions of one image's
  normalised ab [h, w, 2] (numpy), seeded: the same for every model, and
  nested: the hints of a count are the first of those of any larger count,
  so a sweep over counts measures what more hints add, not new placements."""
  height, width = ab.shape[:2]
  if count == 0:
    return np.zeros((height, width, 2), np.float32), np.zeros((height, width, 1), np.float32)
  size = min(size, height, width)
  corners = np.random.default_rng(seed).integers(
      0, (height - size + 1, width - size + 1), (max(count, _EVAL_DRAWS), 2))[:count]
  tops, lefts = corners[:, 0], corners[:, 1]
  sizes = np.full(count, size)
  hint_ab, mask = paint(jnp.asarray(ab, jnp.float32), jnp.asarray(tops), jnp.asarray(lefts),
                        jnp.asarray(sizes), jnp.ones(count, bool))
  return np.asarray(hint_ab), np.asarray(mask)


def reads_hints(model, variables) -> bool:
  """Whether a network reads colour hints (`colorjax.hints`: 4 input
  channels) rather than l alone, from the shapes its variables accept."""
  try:
    jax.eval_shape(lambda: model.apply(variables, jnp.zeros((1, 8, 8, 1)), train=False))
  except (TypeError, ValueError, flax.errors.FlaxError):  # The kernel wants 4 channels.
    jax.eval_shape(lambda: model.apply(
        variables, jnp.zeros((1, 8, 8, CHANNELS)), train=False))
    return True
  return False


def resize(hint_ab: np.ndarray, mask: np.ndarray, height: int, width: int):
  """Hint maps [batch, h, w, 2] and [batch, h, w, 1] at another size: every
  pixel a hint touches stays hinted, valued at the hints' mean over it."""
  if hint_ab.shape[1:3] == (height, width):
    return hint_ab, mask
  weight = images.resize(mask.astype(np.float32), height, width)
  total = images.resize(hint_ab * mask, height, width)
  small_mask = (weight > 1e-3).astype(np.float32)
  return np.where(small_mask > 0, total / np.maximum(weight, 1e-3), 0.0), small_mask


# Hint propagation: a network trained on 2 CPU cores carries a hint's colour
# only a short way (it matches the hints where they lie: at 10 hints on
# Kodak24, spreading its residual there gained 0.06 dB), while Levin, Lischinski
# and Weiss's "Colorization using Optimization" (SIGGRAPH 2004) observation,
# that neighbouring pixels of similar lightness share a colour, carries it
# across a whole region. `propagate` blends the network's colours towards the
# hints' by that affinity (method 'affinity'), or solves Levin et al.'s
# optimisation itself with the network's colours as a weak prior (method
# 'optimize', `optimize`); the network still decides wherever no hint is near.
PROPAGATION_KEYS = ('hint_spread', 'hint_lightness', 'hint_reach', 'hint_method')
METHODS = ('affinity', 'optimize')
# optimize: the weight holding a hinted pixel to its hint (a neighbour's is at most 1).
_PIN = 10.0
# optimize: conjugate-gradient steps, at 1 / _SOLVE_SCALE of the working size
# (sides of at least _SOLVE_MIN_SIDE). On the bundled hint model's 88
# held-out photos at 10 hints (spread 1, lightness 0.03; 2026-12-04): 29.03 dB
# solved at the full 128 px in 400 steps, 29.08 at half the size in 200
# (8x less work), 29.02 in 100, 29.02 at a quarter in 100. One 1024x768
# re-colorization took 0.38 s with the full-size solve, 0.27 s with the
# affinity propagation.
_SOLVE_STEPS = 200
_SOLVE_SCALE = 2
_SOLVE_MIN_SIDE = 16
_CELLS_PER_SIGMA = 4  # Hints are pooled into square cells of sigma / 4 pixels.
_BLOCK_ROWS = 32  # Pixels are weighed against the cells this many rows at a time.
# Hints pooled into at most this many cells are weighed against those cells
# only (a user's 10 hints of 5 px cover at most 90): at spread 0.125 of a
# 128x171 working image, 1,376 cells otherwise.
_HINTED_CELLS = 128


def propagate(x, ab, *, spread: float, lightness: float, reach: float,
              method: str = 'affinity'):
  """The network's ab moved towards nearby hints of similar lightness.

  With method 'optimize' this is `optimize(x, ab, spread=, lightness=)`
  (reach unused); with 'affinity', as follows.

  Every pixel p takes, from the hints (pooled into cells: their mean
  position, lightness and ab, weighted by the hinted pixels they hold), the
  affinity w(p, c) = exp(-|p - c|^2 / (2 s^2) - (l_p - l_c)^2 / (2 lightness^2))
  with s = spread x the image's shorter side, their w-weighted mean colour,
  and the blend weight (max_c w(p, c)) ** (1 / reach): 1 on a hint, falling
  towards 0 (the network's own colour) away from any hint of its lightness.

  Args:
    x: the network's input [batch, h, w, 4] (`network_input`: l, hint ab, mask).
    ab: the network's normalised ab [batch, h, w, 2].
    spread, lightness, reach: see above; all positive.

  Returns:
    normalised ab [batch, h, w, 2]; `ab` itself where no hint is given.
  """
  if method == 'optimize':
    return optimize(x, ab, spread=spread, lightness=lightness)
  height, width = x.shape[1:3]
  sigma = spread * min(height, width)
  cell = max(1, round(sigma / _CELLS_PER_SIGMA))
  rows, cols = -(-height // cell), -(-width // cell)
  yy, xx = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32),
                        jnp.arange(width, dtype=jnp.float32), indexing='ij')

  def cells(x):  # -> the cells' hinted pixels [cells], and mean y, x, l, a, b [cells, 5].
    mask = x[..., 3:]
    parts = jnp.concatenate([mask, mask * yy[..., None], mask * xx[..., None],
                             mask * x[..., :1], mask * x[..., 1:3]], axis=-1)
    parts = jnp.pad(parts, ((0, rows * cell - height), (0, cols * cell - width), (0, 0)))
    sums = parts.reshape(rows, cell, cols, cell, -1).sum((1, 3)).reshape(rows * cols, -1)
    return sums[:, 0], sums[:, 1:] / jnp.maximum(sums[:, :1], 1e-6)

  def blend(x, ab, count, means):
    valid = count > 0

    def block(pixels):  # [n, 3]: y, x, l -> (blend weight [n, 1], hint colour [n, 2]).
      d2 = ((pixels[:, None, :2] - means[None, :, :2]) ** 2).sum(-1)
      dl = (pixels[:, None, 2] - means[None, :, 2]) ** 2
      log_w = jnp.where(valid[None], -d2 / (2 * sigma ** 2) - dl / (2 * lightness ** 2),
                        -jnp.inf)
      top = jnp.max(log_w, axis=1, keepdims=True)
      share = jnp.exp(log_w - jnp.where(jnp.isfinite(top), top, 0.0)) * count[None]
      colour = share @ means[:, 3:] / jnp.maximum(share.sum(1, keepdims=True), 1e-12)
      return jnp.exp(top / reach), colour

    pad_rows = -(-height // _BLOCK_ROWS) * _BLOCK_ROWS - height
    pixels = jnp.stack([yy, xx, x[..., 0]], axis=-1)
    pixels = jnp.pad(pixels, ((0, pad_rows), (0, 0), (0, 0)))
    weight, colour = jax.lax.map(block, pixels.reshape(-1, _BLOCK_ROWS * width, 3))
    weight = weight.reshape(-1, width, 1)[:height]
    colour = colour.reshape(-1, width, 2)[:height]
    return ab + weight * (colour - ab)

  ab32 = ab.astype(jnp.float32)
  count, means = jax.vmap(cells)(x)
  spread_from = lambda count, means: jax.vmap(blend)(x, ab32, count, means)
  if rows * cols <= _HINTED_CELLS:
    return spread_from(count, means).astype(ab.dtype)
  # Cells without hints weigh nothing: when every photo's hints lie in at
  # most _HINTED_CELLS cells, weigh the pixels against those cells only.
  hinted = jax.lax.top_k(count, _HINTED_CELLS)[1]
  few = jnp.all(jnp.sum(count > 0, axis=1) <= _HINTED_CELLS)
  out = jax.lax.cond(
      few, lambda: spread_from(jnp.take_along_axis(count, hinted, axis=1),
                               jnp.take_along_axis(means, hinted[..., None], axis=1)),
      lambda: spread_from(count, means))
  return out.astype(ab.dtype)


def optimize(x, ab, *, spread: float, lightness: float, steps: int = _SOLVE_STEPS,
             scale: int = _SOLVE_SCALE):
  """The ab u that minimises, per channel (Levin, Lischinski and Weiss 2004,
  with the network's colours as a prior):

    sum over 4-neighbours p, q of w(p, q) (u_p - u_q)^2
      + alpha sum_p (u_p - ab_p)^2 + _PIN sum over hinted p of (u_p - hint_p)^2,

  w(p, q) = exp(-(l_p - l_q)^2 / (2 lightness^2)), alpha = 1 / (spread x the
  shorter side)^2: a hint's colour fills the region of its lightness it lies
  in, fading to the network's colour over about spread x the shorter side
  where lightness does not change, and hardly crossing an edge. Solved by
  `steps` of conjugate gradients (Jacobi-preconditioned) from `ab`, at
  1 / `scale` of the size (`scale` x `scale` pixels averaged into one; a
  hint weighs by the share of them it covers); the change it makes to the
  network's colours is then resized back (bilinear).

  Args:
    x: the network's input [batch, h, w, 4] (`network_input`: l, hint ab, mask).
    ab: the network's normalised ab [batch, h, w, 2].
    spread, lightness: see above; positive.

  Returns:
    normalised ab [batch, h, w, 2]; `ab` itself for a photo without hints.
  """
  batch, height, width = x.shape[:3]
  scale = max(1, min(scale, min(height, width) // _SOLVE_MIN_SIDE))
  rows, cols = -(-height // scale), -(-width // scale)

  def shrink(a):  # Edge-padded to whole blocks, each block averaged.
    a = jnp.pad(a, ((0, 0), (0, rows * scale - height), (0, cols * scale - width), (0, 0)),
                mode='edge')
    return a.reshape(batch, rows, scale, cols, scale, a.shape[-1]).mean((2, 4))

  mask = x[..., 3:]
  share = shrink(mask)
  hint = shrink(x[..., 1:3] * mask) / jnp.maximum(share, 1e-6)
  prior = shrink(ab.astype(jnp.float32))
  change = _solve(shrink(x[..., :1]), hint, share, prior, steps=steps, lightness=lightness,
                  alpha=1.0 / (spread * min(rows, cols)) ** 2) - prior
  if scale > 1:
    change = jax.image.resize(change, (batch, rows * scale, cols * scale, 2),
                              'linear')[:, :height, :width]
  hinted = jnp.sum(mask, axis=(1, 2, 3), keepdims=True) > 0
  return jnp.where(hinted, ab + change, ab).astype(ab.dtype)


def _solve(l, hint, mask, prior, *, steps: int, lightness: float, alpha: float):
  """`optimize`'s system at one size, by Jacobi-preconditioned conjugate
  gradients from `prior`: l [b, h, w, 1], hint ab and prior [b, h, w, 2],
  mask [b, h, w, 1] (each pixel's weight towards its hint, 0 to 1)."""
  edge = lambda a, b: jnp.exp(-(a - b) ** 2 / (2 * lightness ** 2))
  across, down = edge(l[:, :, 1:], l[:, :, :-1]), edge(l[:, 1:], l[:, :-1])
  held = alpha + _PIN * mask

  def sides(f, axis):
    """f, one value per pair of neighbours along axis, at each pixel as the
    value of its pair on the lower side and of its pair on the higher side."""
    pad = lambda where: jnp.pad(f, [where if a == axis else (0, 0) for a in range(f.ndim)])
    return pad((1, 0)), pad((0, 1))

  def inflow(f, axis):  # What flows into each pixel from its neighbours along axis.
    lower, higher = sides(f, axis)
    return lower - higher

  def system(u):  # (Laplacian + held) u.
    return (held * u + inflow(across * (u[:, :, 1:] - u[:, :, :-1]), 2)
            + inflow(down * (u[:, 1:] - u[:, :-1]), 1))

  diagonal = held + sum(sides(across, 2)) + sum(sides(down, 1))
  dot = lambda a, b: jnp.sum(a * b, axis=(1, 2, 3), keepdims=True)
  residual = alpha * prior + _PIN * mask * hint - system(prior)
  direction = residual / diagonal
  fit = dot(residual, direction)

  def step(_, carry):
    u, residual, direction, fit = carry
    moved = system(direction)
    rate = fit / jnp.maximum(dot(direction, moved), 1e-30)
    u, residual = u + rate * direction, residual - rate * moved
    new_fit = dot(residual, residual / diagonal)
    direction = residual / diagonal + new_fit / jnp.maximum(fit, 1e-30) * direction
    return u, residual, direction, new_fit

  return jax.lax.fori_loop(0, steps, step, (prior, residual, direction, fit))[0]


def propagation_settings(config, **given) -> dict | None:
  """The propagation a hint model infers with: the `given` settings
  (hint_spread, hint_lightness, hint_reach, hint_method; None: the stored
  one), else those its config stores (config.hints), else none. hint_spread
  0 turns it off; a model stored without a method propagates by 'affinity'.

  Returns:
    {'spread', 'lightness', 'reach', 'method'} (`propagate`'s keywords), or
    None for no propagation.

  Raises:
    ValueError: a negative spread, a lightness or reach that is not positive,
      or a method not in METHODS.
  """
  stored = config.get('hints') or {}
  values = {k: given.get(k) if given.get(k) is not None else stored.get(k)
            for k in PROPAGATION_KEYS}
  spread = float(values['hint_spread'] or 0.0)
  if spread < 0:
    raise ValueError(f'The hint spread is a share of the shorter side, 0 or more '
                     f'(0: off), not {spread!r}.')
  if spread == 0:
    return None
  lightness = float(values['hint_lightness'] or 0.15)
  reach = float(values['hint_reach'] or 1.0)
  if not (lightness > 0 and reach > 0):
    raise ValueError(f'The hint lightness and reach must be positive, not '
                     f'{lightness!r} and {reach!r}.')
  method = values['hint_method'] or 'affinity'
  if method not in METHODS:
    raise ValueError(f'The hint propagation method must be one of {", ".join(METHODS)}, '
                     f'not {method!r}.')
  return {'spread': spread, 'lightness': lightness, 'reach': reach, 'method': method}


class Propagated(models.Wrapped):
  """A hint-conditioned network whose output `propagate` carries further
  along the hints (see `propagation_settings`)."""

  def __init__(self, model, settings: dict):
    super().__init__(model)
    self.settings = settings

  def after(self, x, out):
    return propagate(x, out, **self.settings)


DEFAULT_SIZE = 5  # Side of a user's hint, in the photo's pixels.


@jax.jit
def _ab_at_lightness(rgb, l):
  """Normalised ab [n, 2] of colours rgb [n, 3] in [0, 1] at normalised
  lightness l [n], fitted into the sRGB gamut at that lightness."""
  _, ab = color.normalize(color.rgb_to_lab(rgb))
  fitted = color.compose(l[:, None], ab)
  return color.normalize(color.rgb_to_lab(fitted))[1]


def from_points(l: np.ndarray, points, size: int = DEFAULT_SIZE):
  """A person's hints as the network's hint maps.

  Args:
    l: the photo's normalised lightness [h, w, 1].
    points: [(x, y, (r, g, b)), ...] in the photo's pixel coordinates (x to
      the right, y down) with 0..255 colours. Only the colour's hue and
      saturation count: it is taken at the photo's own lightness there and
      fitted into the sRGB gamut at that lightness.
    size: side of each hint's square, in pixels.

  Returns:
    (hint ab [h, w, 2], mask [h, w, 1]), float32 numpy.

  Raises:
    ValueError: a point outside the photo or a colour that is not 3 values in 0..255.
  """
  height, width = l.shape[:2]
  squares, colours, lightness = [], [], []
  for point in points:
    try:
      x, y, rgb = point
      x, y = int(round(float(x))), int(round(float(y)))
      rgb = np.asarray(rgb, np.float64)
    except (TypeError, ValueError):
      raise ValueError(f'A hint is (x, y, (r, g, b)), not {point!r}.') from None
    if rgb.shape != (3,) or rgb.min() < 0 or rgb.max() > 255:
      raise ValueError(f'A hint colour is 3 values in 0..255, not {point[2]!r}.')
    if not (0 <= x < width and 0 <= y < height):
      raise ValueError(f'The hint at ({x}, {y}) lies outside the {width}x{height} photo.')
    top, left = max(0, y - size // 2), max(0, x - size // 2)
    squares.append((top, min(height, top + size), left, min(width, left + size)))
    colours.append(rgb / 255.0)
    lightness.append(float(l[top:squares[-1][1], left:squares[-1][3]].mean()))
  hint_ab = np.zeros((height, width, 2), np.float32)
  mask = np.zeros((height, width, 1), np.float32)
  if not squares:
    return hint_ab, mask
  # One compiled call for all hints, padded to a power of two (one program
  # per bucket, so moving or adding a hint on the page does not recompile).
  count = len(squares)
  padded = max(8, 1 << (count - 1).bit_length())
  pad = lambda x: np.concatenate([np.asarray(x, np.float32),
                                  np.zeros((padded - count,) + np.shape(x)[1:], np.float32)])
  ab = np.asarray(_ab_at_lightness(pad(colours), pad(lightness)))[:count]
  for (top, bottom, left, right), value in zip(squares, ab):
    hint_ab[top:bottom, left:right] = value
    mask[top:bottom, left:right] = 1.0
  return hint_ab, mask


def load_file(path: str) -> dict[str, list]:
  """Hints per photo from a JSON file (`colorjax.colorize --hints=FILE`):

    {"photo.jpg": [{"x": 120, "y": 80, "rgb": [200, 30, 30]}, ...],
     "clip.mp4": {"0": [{"x": 300, "y": 200, "rgb": [30, 60, 200]}], "90": [...]}}

  keyed by the photo's path as colorize names its output (relative to the
  folder given) or by its file name; x, y in the photo's pixels. A clip's
  hints are keyed by the frame they are set on, and follow their content
  from there (`colorjax.video`).

  Returns:
    {key: [(x, y, (r, g, b)), ...] or, for a clip, {frame: [...]}}.

  Raises:
    ValueError: the file is missing, not JSON, or not in that format.
  """
  try:
    with open(path) as f:
      record = json.load(f)
  except OSError as e:
    raise ValueError(f'Cannot read the hints file {path!r} ({e.strerror}).') from None
  except json.JSONDecodeError as e:
    raise ValueError(f'The hints file {path!r} is not JSON ({e.msg}, line {e.lineno}).') from None
  if not isinstance(record, dict):
    raise ValueError(f'The hints file {path!r} must map photo names to lists of '
                     'hints, e.g. {"photo.jpg": [{"x": 120, "y": 80, "rgb": [200, 30, 30]}]}.')
  return {name: (parse_frames if isinstance(items, dict) else parse)(
      items, f'The hints for {name!r} in {path!r}') for name, items in record.items()}


def parse_frames(items, what: str = 'The hints') -> dict[int, list]:
  """A clip's hints, {"FRAME": [{"x", "y", "rgb"}, ...]} (decoded JSON), as
  {frame index: [(x, y, (r, g, b)), ...]} (`colorjax.video`).

  Raises:
    ValueError: `what` is not such a mapping.
  """
  if not isinstance(items, dict):
    raise ValueError(f'{what} must map frame numbers to lists of hints, e.g. '
                     '{"0": [{"x": 120, "y": 80, "rgb": [200, 30, 30]}]}.')
  frames = {}
  for frame, points in items.items():
    if not str(frame).isdigit():
      raise ValueError(f'{what}: {frame!r} is not a frame number (0, 1, 2, ...).')
    frames[int(frame)] = parse(points, f'{what}, frame {frame}')
  return frames


def parse(items, what: str = 'The hints') -> list:
  """[{"x", "y", "rgb"}, ...] (decoded JSON) -> [(x, y, (r, g, b)), ...].

  Raises:
    ValueError: `what` is not such a list.
  """
  try:
    return [(h['x'], h['y'], tuple(h['rgb'])) for h in items]
  except (TypeError, KeyError):
    raise ValueError(f'{what} must be a list of {{"x", "y", "rgb"}} objects, e.g. '
                     '[{"x": 120, "y": 80, "rgb": [200, 30, 30]}].') from None

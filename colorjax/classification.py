"""Colour as classification (Zhang, Isola and Efros, ECCV 2016).

The ab plane is quantised on a grid of 10 LAB units; the network predicts, per
pixel, a distribution over the Q grid points that sRGB colours reach, and is
trained with a cross-entropy against soft-encoded targets, re-weighted so that
rare (saturated) colours count more. At inference the distribution becomes one
colour by the annealed mean, which interpolates between the mean (T=1, the
brown average that regression gives) and the mode (T->0, vivid but patchy).

  bins = ab_bins()                                   # [Q, 2] a, b
  weights = rebalance_weights(prior, bins)           # from compute_prior
  loss = rebalanced_cross_entropy(logits, ab, bins, weights)
  ab = annealed_mean(logits, bins, temperature=0.38)

The bins. A grid point is kept when some sRGB colour has it as its nearest
grid point, i.e. when its 10x10 cell holds a colour that a photo can contain:
every bin is in gamut, and every colour is within half a cell (a, b each at
most 5) of its bin. That gives Q = 261 for sRGB with scikit-image's LAB (D65,
2-degree observer). Zhang et al. report 313 "in-gamut" points; their published
list holds all 261 of these plus 52 points around the border whose cells no
sRGB colour reaches (up to 14.9 LAB units from the nearest one), so it is not
reproduced by any in-gamut test on sRGB that we found; we keep the strict set,
which also drops classes that no training pixel can ever belong to.
"""

import functools
from typing import Iterable

import jax
import jax.numpy as jnp
import numpy as np

from colorjax import color
from colorjax import models

GRID = 10.0  # Spacing of the ab grid, LAB units.


def _rgb_cube_surface() -> np.ndarray:
  """Every 8-bit colour with at least one channel at 0 or 255, uint8 [n, 3].

  The ab projection of the sRGB solid is the projection of its surface (a line
  along L through any colour of the solid leaves it through the surface), so
  these 6 * 256**2 colours reach every ab cell the whole cube reaches.
  """
  v = np.arange(256, dtype=np.uint8)
  u, w = [x.ravel() for x in np.meshgrid(v, v, indexing='ij')]
  faces = []
  for channel in range(3):
    for value in (0, 255):
      face = np.empty((u.size, 3), np.uint8)
      others = [c for c in range(3) if c != channel]
      face[:, channel], face[:, others[0]], face[:, others[1]] = value, u, w
      faces.append(face)
  return np.concatenate(faces)


@functools.lru_cache(maxsize=4)
def ab_bins(grid: float = GRID) -> np.ndarray:
  """The in-gamut ab bins: grid points that are the nearest grid point of some
  sRGB colour, float32 [Q, 2] (a, b), sorted by a then b. Q = 261 at grid 10."""
  lab = np.asarray(jax.jit(color.rgb_to_lab)(_rgb_cube_surface()), np.float64)
  cells = np.unique(np.round(lab[:, 1:] / grid).astype(np.int64), axis=0)
  return (cells * grid).astype(np.float32)


def num_bins(grid: float = GRID) -> int:
  return len(ab_bins(grid))


_REACH = 2  # soft_encode looks for bins within this many cells of a value's own.


def _cell_table(bins, grid: float):
  """Bin index of each grid cell (-1: not a bin) over the bins' bounding box
  widened by _REACH + 1 cells, and the cell coordinates of the table's origin."""
  cells = np.round(np.asarray(bins) / grid).astype(np.int64)
  low = cells.min(axis=0) - _REACH - 1
  table = np.full(cells.max(axis=0) + _REACH + 1 - low + 1, -1, np.int32)
  table[tuple((cells - low).T)] = np.arange(len(cells))
  return table, low


def _offsets() -> np.ndarray:
  """The cell offsets that soft_encode searches, int [(2 * _REACH + 1)**2, 2]."""
  reach = np.arange(-_REACH, _REACH + 1)
  return np.stack(np.meshgrid(reach, reach, indexing='ij'), -1).reshape(-1, 2)


def _neighbour_table(bins, grid: float):
  """For each cell of `_cell_table`'s table, flattened, the bin indices of the
  cells at `_offsets()` around it (-1: not a bin): int32 [cells, offsets], so
  that one row gather gives a value's candidates. And the table's origin and
  width."""
  table, low = _cell_table(bins, grid)
  height, width = table.shape
  padded = np.pad(table, _REACH, constant_values=-1)
  rows = np.stack([padded[_REACH + da:_REACH + da + height, _REACH + db:_REACH + db + width]
                   for da, db in _offsets()], -1)
  return rows.reshape(height * width, -1), low, width


def soft_encode(ab, bins, *, neighbours: int = 5, sigma: float = 5.0,
                grid: float = GRID):
  """The soft-encoded target of each ab value: its nearest bins, weighted by a
  Gaussian of the distance, summing to 1.

  The candidates are the bins among the 5x5 grid points around the value's
  own cell, so the cost is independent of Q (a full top-k over Q bins costs
  70x more on a CPU). That is exact whenever the value's `neighbours` nearest
  bins lie within 20 LAB units, which holds inside the gamut; at its border,
  bins two cells away may stand in for farther nearer ones, and Gaussian
  weights there are below exp(-8) anyway. Values beyond the bins' cells (no
  sRGB colour is) are first clamped to them.

  Written for XLA:CPU, where it runs in every classification train step: the
  candidates come from one row gather of a per-cell table, their squared
  distances are two products per candidate (a sum over a trailing axis of 2
  took 11x longer), and each nearest one is a min and the first slot holding
  it (an argmin took 2.3x longer; both keep the first of tied candidates).

  Args:
    ab: [..., 2] in LAB units.
    bins: [Q, 2], grid points (as `ab_bins` returns).
    neighbours: how many nearest bins share the weight (at most 25).
    sigma: the Gaussian's width, LAB units.
    grid: the bins' grid spacing.

  Returns:
    (indices int32 [..., neighbours], weights float32 [..., neighbours]), the
    nearest bin first. `dense` turns them into [..., Q] distributions.
  """
  rows, low, width = _neighbour_table(bins, grid)
  offsets = _offsets().astype(np.float32)
  bins = np.asarray(bins, np.float32)
  ab = jnp.clip(ab.astype(jnp.float32), bins.min(axis=0) - grid / 2,
                bins.max(axis=0) + grid / 2)
  own = jnp.round(ab / grid)
  cell = own.astype(jnp.int32) - low
  index = jnp.take(jnp.asarray(rows), cell[..., 0] * width + cell[..., 1], axis=0)
  da = ab[..., 0, None] - (own[..., 0, None] + offsets[:, 0]) * grid
  db = ab[..., 1, None] - (own[..., 1, None] + offsets[:, 1]) * grid
  d2 = jnp.where(index >= 0, da * da + db * db, jnp.inf)
  slot = jnp.arange(len(offsets), dtype=jnp.int32)
  nearest, distances = [], []
  for _ in range(neighbours):
    least = jnp.min(d2, axis=-1, keepdims=True)
    first = jnp.min(jnp.where(d2 == least, slot, len(offsets)), axis=-1, keepdims=True)
    chosen = slot == first
    nearest.append(jnp.sum(jnp.where(chosen, index, 0), axis=-1, keepdims=True))
    distances.append(least)
    d2 = jnp.where(chosen, jnp.inf, d2)
  indices = jnp.concatenate(nearest, axis=-1)
  d2 = jnp.concatenate(distances, axis=-1)
  # Shift by the nearest distance before exponentiating: identical weights,
  # no underflow for colours far from every bin.
  weights = jax.nn.softmax(-(d2 - d2[..., :1]) / (2 * sigma ** 2), axis=-1)
  return indices, weights


def dense(indices, weights, num_classes: int):
  """[..., Q] distributions from `soft_encode`'s (indices, weights)."""
  classes = jnp.arange(num_classes)
  # One [..., Q] pass per neighbour: no [..., neighbours, Q] intermediate.
  return sum(jnp.where(classes == indices[..., i, None], weights[..., i, None], 0.0)
             for i in range(indices.shape[-1]))


def smooth(prior, bins, *, sigma: float = 5.0) -> np.ndarray:
  """The prior blurred over the ab plane by a Gaussian of width sigma (LAB
  units), renormalised: a kernel estimate over the bin centres."""
  bins = np.asarray(bins, np.float64)
  d2 = np.sum(np.square(bins[:, None] - bins[None]), axis=-1)
  kernel = np.exp(-d2 / (2 * sigma ** 2))
  smoothed = kernel @ np.asarray(prior, np.float64)
  return smoothed / smoothed.sum()


def rebalance_weights(prior, bins, *, mix: float = 0.5,
                      sigma: float = 5.0) -> np.ndarray:
  """Class weights w ~ 1 / ((1 - mix) * p~ + mix / Q), scaled so that their
  expectation under the smoothed prior p~ is 1 (Zhang et al., eq. 4).

  Args:
    prior: [Q] empirical bin probabilities (or counts) of the training data.
    bins: [Q, 2].
    mix: lambda, the weight of the uniform distribution in the mixture.
    sigma: the prior's smoothing width, LAB units.

  Returns:
    float32 [Q].
  """
  prior = np.asarray(prior, np.float64)
  smoothed = smooth(prior / prior.sum(), bins, sigma=sigma)
  weights = 1.0 / ((1 - mix) * smoothed + mix / len(prior))
  return (weights / np.sum(smoothed * weights)).astype(np.float32)


@jax.custom_vjp
def soft_cross_entropy(logits, indices, weights):
  """Per pixel, the cross-entropy of `soft_encode`'s target (indices, weights)
  against logits [..., Q]: logsumexp(logits) - sum_k weights_k * logits[indices_k].

  Its gradient is written out, softmax(logits) - target, so that the [..., Q]
  tensors are read once or twice per step: differentiated automatically,
  the loss took 1.27x as long on XLA:CPU (value and gradient, batch 16 x
  96², 2026-12-02). The target gets no gradient.
  """
  return _soft_cross_entropy_fwd(logits, indices, weights)[0]


def _soft_cross_entropy_fwd(logits, indices, weights):
  log_total = jax.nn.logsumexp(logits, axis=-1)
  # A missing neighbour (index -1, weight 0: only outside the gamut) picks nothing.
  picked = jnp.take_along_axis(logits, jnp.maximum(indices, 0), axis=-1)
  cross_entropy = log_total - jnp.sum(jnp.where(indices >= 0, weights * picked, 0.0), axis=-1)
  return cross_entropy, (logits, log_total, indices, weights)


def _soft_cross_entropy_bwd(residuals, grad):
  logits, log_total, indices, weights = residuals
  target = dense(indices, weights, logits.shape[-1])
  gradient = grad[..., None] * (jnp.exp(logits - log_total[..., None]) - target)
  return gradient, None, None


soft_cross_entropy.defvjp(_soft_cross_entropy_fwd, _soft_cross_entropy_bwd)


def rebalanced_cross_entropy(logits, ab, bins, class_weights, *,
                             neighbours: int = 5, sigma: float = 5.0):
  """Mean over pixels of w(nearest bin) * cross-entropy(soft target, logits).

  Args:
    logits: [..., Q].
    ab: [..., 2] in LAB units.
    bins: [Q, 2].
    class_weights: [Q], from `rebalance_weights` (ones: no rebalancing).
  """
  indices, weights = soft_encode(ab, bins, neighbours=neighbours, sigma=sigma)
  cross_entropy = soft_cross_entropy(logits.astype(jnp.float32), indices, weights)
  pixel_weights = jnp.asarray(class_weights, jnp.float32)[indices[..., 0]]
  return jnp.mean(pixel_weights * cross_entropy)


def annealed_mean(logits, bins, temperature: float = 0.38):
  """The ab value [..., 2] (LAB units) that a distribution's logits decode to:
  the mean of softmax(logits / T). T=1 gives the distribution's mean; T=0 its
  mode (the most probable bin)."""
  bins = jnp.asarray(bins, jnp.float32)
  logits = logits.astype(jnp.float32)
  if temperature == 0:
    return bins[jnp.argmax(logits, axis=-1)]
  # log(p) / T = logits / T up to a constant that the softmax removes.
  return jax.nn.softmax(logits / temperature, axis=-1) @ bins


def confident_mean(logits, bins, temperature: float, confidence: float):
  """The annealed mean where the distribution is peaked, its mean where it is
  flat: weight c = min(1, confidence * max p) on `annealed_mean` at
  `temperature`, 1 - c on the mean (T = 1). ab [..., 2], LAB units."""
  bins = jnp.asarray(bins, jnp.float32)
  p = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  weight = jnp.minimum(1.0, confidence * jnp.max(p, axis=-1, keepdims=True))
  return weight * annealed_mean(logits, bins, temperature) + (1.0 - weight) * (p @ bins)


def scene_gate(logits, bins, scene_chroma: float):
  """The share of its colour each photo keeps, [..., 1, 1, 1] for logits
  [..., H, W, Q]: min(1, m / scene_chroma), m being the chroma |E[ab]| of
  each pixel's mean colour (T = 1) averaged over the photo's pixels (LAB
  units). A photo the network expects to be colourful as a whole keeps its
  colours; one it expects to be nearly neutral fades towards gray in
  proportion."""
  return jnp.minimum(1.0, mean_chroma(logits, bins) / scene_chroma)[..., None, None, None]


def mean_chroma(logits, bins, *, eps: float = 0.0):
  """The scene gate's evidence [...] for logits [..., H, W, Q]: the chroma
  |E[ab]| of each pixel's mean colour (T = 1) averaged over the photo's
  pixels (LAB units). eps > 0 takes sqrt(|E[ab]|^2 + eps) instead, whose
  gradient stays finite at a pixel whose mean colour is gray."""
  if logits.ndim < 3:
    raise ValueError('The scene gate averages over a photo: it needs logits [..., H, W, Q], '
                     f'not shape {logits.shape}.')
  mean = jax.nn.softmax(logits.astype(jnp.float32), axis=-1) @ jnp.asarray(bins, jnp.float32)
  return jnp.mean(jnp.sqrt(jnp.sum(jnp.square(mean), axis=-1) + eps), axis=(-2, -1))


def scene_chroma_loss(logits, ab, bins, class_weights=None, *, excess_only: bool = False):
  """How far each photo's colour evidence is from its true amount of colour:
  the mean over photos of (m - t)^2 in LAB units squared, m being the scene
  gate's evidence (`mean_chroma`) under the unweighted posterior (the logits
  less log(class weights), what logit adjustment 1 decodes) and t the mean
  chroma |ab| of the photo's true colours. With excess_only, max(0, m - t)^2:
  only colour beyond the truth's is charged, so the term cannot be shrunk by
  painting photos whose evidence falls short (the two-sided gap did that,
  RESULTS.md "A photo-level colour term").

  The cross-entropy judges each pixel alone, so a network unsure between
  colours keeps a faint mean colour on a colourful photo and a vivid mode on
  a neutral one alike; this term charges a photo-level mismatch, the amount
  of colour the scene gate reads, over all of a photo's pixels at once.

  Args:
    logits: [..., H, W, Q].
    ab: [..., H, W, 2], the true colours in LAB units.
    bins: [Q, 2].
    class_weights: [Q], the rebalancing weights the network trains with
      (None: no rebalancing).
    excess_only: charge only evidence above the truth's.
  """
  logits = logits.astype(jnp.float32)
  if class_weights is not None:
    logits = logits - jnp.log(jnp.asarray(class_weights, jnp.float32))
  predicted = mean_chroma(logits, bins, eps=1e-4)
  true = jnp.mean(jnp.linalg.norm(ab.astype(jnp.float32), axis=-1), axis=(-2, -1))
  gap = predicted - true
  return jnp.mean(jnp.square(jnp.maximum(gap, 0.0) if excess_only else gap))


# ------------------------------------------------------------------ prior --

def nearest_bins(ab, bins, grid: float = GRID) -> np.ndarray:
  """Index of the nearest bin of each ab value [n, 2] (LAB units), int [n].

  A table lookup of the grid cell, since bins are grid points; values whose
  cell is not a bin (none for sRGB colours) fall back to a full search.
  """
  ab, bins = np.asarray(ab, np.float64), np.asarray(bins)
  table, low = _cell_table(bins, grid)
  position = np.round(ab / grid).astype(np.int64) - low
  inside = np.all((position >= 0) & (position < table.shape), axis=-1)
  index = np.full(len(ab), -1, np.int64)
  index[inside] = table[tuple(position[inside].T)]
  missed = index < 0
  if missed.any():
    distance = np.sum(np.square(ab[missed, None] - bins), axis=-1)
    index[missed] = np.argmin(distance, axis=-1)
  return index


def compute_prior(images: Iterable[np.ndarray], bins, *,
                  chunk: int = 1 << 20) -> np.ndarray:
  """How many pixels of `images` (uint8 RGB [h, w, 3]) fall in each bin,
  float64 [Q]. Pixels are converted to LAB in fixed-size chunks (one
  compilation)."""
  to_ab = jax.jit(lambda rgb: color.rgb_to_lab(rgb)[:, 1:])
  counts = np.zeros(len(bins), np.float64)

  def count(pixels):  # At most `chunk` pixels, padded to exactly `chunk`.
    padded = np.zeros((chunk, 3), np.uint8)
    padded[:len(pixels)] = pixels
    ab = np.asarray(to_ab(padded))[:len(pixels)]
    counts[:] += np.bincount(nearest_bins(ab, bins), minlength=len(bins))

  pending = np.zeros((0, 3), np.uint8)
  for rgb in images:
    pending = np.concatenate([pending, np.asarray(rgb, np.uint8).reshape(-1, 3)])
    while len(pending) >= chunk:  # Full chunks now; the rest waits for more.
      count(pending[:chunk])
      pending = pending[chunk:]
  if len(pending):
    count(pending)
  return counts


def save_prior(path: str, counts, bins, **info) -> None:
  """Stores bin counts with their bins (and any descriptive fields) as .npz."""
  np.savez(path, counts=np.asarray(counts, np.float64),
           bins=np.asarray(bins, np.float32),
           **{k: np.asarray(v) for k, v in info.items()})


def load_prior(path: str, bins) -> np.ndarray:
  """The bin counts stored at `path`, checked against `bins`.

  Raises:
    ValueError: the file was computed for other bins.
  """
  with np.load(path) as data:
    stored, counts = data['bins'], data['counts']
  if stored.shape != np.shape(bins) or not np.allclose(stored, bins):
    raise ValueError(f'The ab prior {path} was computed for {len(stored)} other '
                     f'bins, not these {len(bins)}; recompute it with '
                     'python -m colorjax.prior.')
  return counts


class Decoded(models.Wrapped):
  """A classification network seen as an ab network: `apply` returns the
  normalised ab of the annealed mean, like a regression model's output, so
  evaluation, colorize and serve use either kind the same way.

  Logit adjustment. Training with class weights w makes the network's softmax
  estimate p(bin | l) * w(bin), renormalised (Zhang et al.'s intent: rare,
  saturated colours win more often). Decoding from logits - adjustment *
  log(w) takes back that share of the bias (Menon et al., ICLR 2021): 0 keeps
  the paper's decoding, 1 recovers the unweighted posterior, whose annealed
  mean is duller but closer to the truth on average.

  Confidence. A low temperature makes every pixel vivid, including those whose
  distribution is flat (the network does not know the colour), where the
  mean is the safer answer. With `confidence` k > 0 each pixel takes the
  annealed mean at the temperature with weight min(1, k * max p), and the
  distribution's mean (T = 1) with the rest, p being the (adjusted)
  softmax: vivid where the network is sure, the mean where it is not
  (`confident_mean`). 0 turns it off.

  Scene gate. Per pixel, a photo of a nearly neutral scene (overcast street,
  stone facade, fog) is painted wherever the annealed mean finds a colour,
  though the network's mean colours there are faint. With `scene_chroma` c >
  0 each photo keeps the share min(1, m / c) of its decoded colour, m being
  the chroma of the (adjusted) distribution's mean averaged over the photo
  (`scene_gate`): a scene-level decision from the network's own evidence.
  0 turns it off. Tune all four on held-out photos (`python -m colorjax.tune`).
  """

  def __init__(self, net, bins, temperature: float, *, adjustment: float = 0.0,
               class_weights=None, confidence: float = 0.0, scene_chroma: float = 0.0):
    if temperature < 0:
      raise ValueError(f'The temperature must be 0 or more, not {temperature}.')
    if confidence < 0:
      raise ValueError(f'The confidence must be 0 (off) or more, not {confidence}.')
    if scene_chroma < 0:
      raise ValueError(f'The scene chroma must be 0 (off) or more, not {scene_chroma}.')
    if adjustment and class_weights is None:
      raise ValueError('Logit adjustment needs the class weights the network '
                       'was trained with; this checkpoint does not store them '
                       '(it predates colorjax storing them), so decode it with '
                       'adjustment 0.')
    super().__init__(net)
    self.temperature, self.adjustment = temperature, adjustment
    self.confidence, self.scene_chroma = confidence, scene_chroma
    self.bins = np.asarray(bins, np.float32)
    if class_weights is not None and len(class_weights) != len(self.bins):
      raise ValueError(f'{len(class_weights)} class weights for {len(self.bins)} bins.')
    self.log_weights = (None if class_weights is None
                        else np.log(np.asarray(class_weights, np.float32)))

  def decode(self, logits):
    """Normalised ab [..., 2] of the network's logits [..., Q]: the annealed
    mean (or `confident_mean`) of the logits less `adjustment` * log(class weights),
    times the `scene_gate` if `scene_chroma` is set."""
    logits = logits.astype(jnp.float32)
    if self.adjustment:
      logits = logits - self.adjustment * self.log_weights
    if self.confidence:
      ab = confident_mean(logits, self.bins, self.temperature, self.confidence)
    else:
      ab = annealed_mean(logits, self.bins, self.temperature)
    if self.scene_chroma:
      ab = ab * scene_gate(logits, self.bins, self.scene_chroma)
    return ab / color.AB_SCALE

  def after(self, x, out):
    return self.decode(out)

  def apply(self, variables, l, *, train: bool = False, **kwargs):
    """Normalised ab; with `mutable=` (training), (ab, updated collections)."""
    return super().apply(variables, l, train=train, **kwargs)

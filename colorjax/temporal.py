"""Temporal stability for video: colour carried along optical flow.

A network that colorizes each frame on its own flickers: a small change in
the gray input (noise, a shift by a pixel, a compression artefact) flips an
uncertain colour from one frame to the next. `Stabilizer` turns the
per-frame predictions into a colour that stays with the content:

1. Flow. Dense optical flow between the previous and the current gray frame
   (OpenCV's DIS, both directions) at the working resolution, where the
   network's ab lives.
2. Carry. The previous *output* ab is warped to the current frame along the
   backward flow: every pixel gets the colour its content had a frame ago,
   so colour follows moving objects instead of being averaged across them.
3. Trust. A pixel keeps the carried colour only where the flow explains the
   frame: the forward and backward flows agree (Sundaram et al. 2010's
   forward-backward check, which marks occlusions and dis-occlusions), the
   carried lightness matches the current lightness, and the source lies
   inside the previous frame. Elsewhere (new content, occlusion, a flow
   error) the network's current prediction is taken as it is.
4. Blend. Where trusted, the output is `carry` x carried + (1 - carry) x
   current: an exponential average along each pixel's trajectory (about
   1 / (1 - carry) frames of memory), so a prediction that flips is
   averaged out while a real change of colour comes through within a few
   frames. The hue is blended as vectors, the chroma as magnitudes (the
   mean of two opposite colours is gray; the mean of their strengths is
   not), so stability does not come from washing the colour out.
5. Cuts. At a scene cut nothing is carried: a cut is a frame whose
   lightness histogram moves by more than `cut_histogram` (L1 distance of
   the two normalised histograms, 0 to 2) or where less than `cut_trusted`
   of the pixels pass the trust test.

`track` moves colour hints along the same forward flow, so a hint set on
one frame stays on its object until a cut, an occlusion or the edge of the
picture (`colorjax.video`).

The settings were chosen on `davis_tennis_siammask` and
`sam2_05_default_juggle` (../shared/data/video) and a panned photo, and are
reported on the other clips (RESULTS.md, "Video").
"""

import dataclasses

import cv2
import numpy as np


@dataclasses.dataclass(frozen=True)
class Settings:
  """How much colour is carried, and when it is not."""
  carry: float = 0.85  # Weight of the carried colour where the flow is trusted.
  fb_relative: float = 0.05  # Forward-backward check: |f + b|^2 < rel * (|f|^2 + |b|^2) + abs.
  fb_absolute: float = 0.5  # ...in working-resolution pixels squared.
  max_lightness_change: float = 0.08  # Carried vs current lightness (normalised, -1..1).
  cut_histogram: float = 0.6  # L1 distance of lightness histograms (0..2) that is a cut.
  cut_trusted: float = 0.2  # A frame with fewer trusted pixels than this is a cut.


def to_gray8(l: np.ndarray) -> np.ndarray:
  """uint8 gray [h, w] of normalised lightness [h, w] or [h, w, 1] (-1..1)."""
  l = np.asarray(l, np.float32).reshape(l.shape[:2])
  return np.clip(np.rint((l + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _histogram(gray: np.ndarray) -> np.ndarray:
  counts = np.bincount((gray >> 3).ravel(), minlength=32).astype(np.float64)
  return counts / counts.sum()


def _sample(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
  return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)


class Stabilizer:
  """Frame by frame: `__call__(l, ab)` with the current frame's normalised
  lightness and predicted ab at the working resolution gives the ab to
  show. Call `reset` between clips."""

  def __init__(self, settings: Settings = Settings()):
    self.settings = settings
    self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    self.reset()

  def reset(self) -> None:
    self._gray = self._ab = self._hist = self._carried = None
    self.forward = None  # Flow from the previous frame to this one ([h, w, 2]; None at a cut).
    self.trusted = None  # Where that flow was trusted ([h, w] bool).
    self.cuts = []  # Frame indices where nothing was carried (not counting frame 0).
    self.index = -1

  def __call__(self, l: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Stable ab [h, w, 2] for this frame's l [h, w(, 1)] and predicted ab
    [h, w, 2]: `observe` then `stabilize`."""
    self.observe(l)
    return self.stabilize(ab)

  def observe(self, l: np.ndarray) -> None:
    """Reads this frame's lightness [h, w(, 1)]: the flow from the previous
    frame, where it is trusted, and whether this frame is a cut."""
    s = self.settings
    self.index += 1
    lightness = np.asarray(l, np.float32).reshape(np.shape(l)[:2])
    gray = to_gray8(lightness)
    hist = _histogram(gray)
    previous = self._gray
    self.forward = self.trusted = self._carried = None
    if previous is not None and previous.shape == gray.shape and self._ab is not None:
      is_cut = np.abs(hist - self._hist).sum() > s.cut_histogram
      if not is_cut:
        carried, trusted, forward = self._carry(previous, gray, self._ab, lightness)
        is_cut = trusted.mean() < s.cut_trusted
      if is_cut:
        self.cuts.append(self.index)
      else:
        self.forward, self.trusted, self._carried = forward, trusted, carried
    self._gray, self._hist = gray, hist

  def stabilize(self, ab: np.ndarray) -> np.ndarray:
    """The ab to show [h, w, 2] for this frame's predicted ab, after `observe`."""
    ab = np.asarray(ab, np.float32)
    out = ab
    if self._carried is not None and self._carried.shape == ab.shape:
      out = blend(self._carried, ab, self.settings.carry * self.trusted)
    self._ab = out
    return out

  def _carry(self, previous, gray, previous_ab, lightness):
    """The previous output warped to this frame, where to trust it, and the
    forward flow (previous -> this frame)."""
    s = self.settings
    backward = self._flow.calc(gray, previous, None)  # This frame -> previous.
    forward = self._flow.calc(previous, gray, None)
    h, w = gray.shape
    grid_y, grid_x = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x, map_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
    carried = _sample(previous_ab, map_x, map_y)
    forward_there = _sample(forward, map_x, map_y)
    mismatch = np.square(backward + forward_there).sum(-1)
    scale = np.square(backward).sum(-1) + np.square(forward_there).sum(-1)
    consistent = mismatch < s.fb_relative * scale + s.fb_absolute
    previous_l = previous.astype(np.float32) / 127.5 - 1.0
    same_light = np.abs(_sample(previous_l, map_x, map_y) - lightness) < s.max_lightness_change
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return carried, consistent & same_light & inside, forward

  def track(self, points, scale_x: float, scale_y: float):
    """Moves hint points [(x, y, rgb)] in full-resolution pixels along this
    frame's forward flow (the working resolution is `scale_x`, `scale_y`
    times smaller); points whose flow is not trusted, that leave the
    picture, or any at a cut, are dropped. Returns the points that stay."""
    if self.forward is None:
      return []
    h, w = self.forward.shape[:2]
    kept = []
    for x, y, rgb in points:
      # Where the point was in the previous frame, at the working resolution.
      sx, sy = (x + 0.5) / scale_x - 0.5, (y + 0.5) / scale_y - 0.5
      ix, iy = int(round(min(max(sx, 0), w - 1))), int(round(min(max(sy, 0), h - 1)))
      dx, dy = self.forward[iy, ix]
      nx, ny = x + dx * scale_x, y + dy * scale_y
      tx, ty = (nx + 0.5) / scale_x - 0.5, (ny + 0.5) / scale_y - 0.5
      if not (0 <= tx <= w - 1 and 0 <= ty <= h - 1):
        continue  # Left the picture.
      if not self.trusted[int(round(ty)), int(round(tx))]:
        continue  # Occluded, or the flow does not explain it.
      kept.append((nx, ny, rgb))
    return kept


def blend(carried: np.ndarray, current: np.ndarray, weight: np.ndarray) -> np.ndarray:
  """weight x carried + (1 - weight) x current for ab [h, w, 2] with weight
  [h, w]: the direction (hue) blended as vectors, the length (chroma) as
  magnitudes."""
  weight = weight[..., None].astype(np.float32)
  mixed = weight * carried + (1 - weight) * current
  length = np.linalg.norm(mixed, axis=-1, keepdims=True)
  chroma = (weight * np.linalg.norm(carried, axis=-1, keepdims=True)
            + (1 - weight) * np.linalg.norm(current, axis=-1, keepdims=True))
  return np.where(length > 1e-6, mixed * (chroma / np.maximum(length, 1e-6)), mixed)

"""Video colorization with colour carried along the flow, against colorizing
each frame alone with the same model at the same working resolution.

  python benchmarks/video.py                 # the bundled model: every measure below
  python benchmarks/video.py --tune          # the settings sweep, on the tuning clips only

Measures (LAB units for chroma; `colorjax.temporal` for the method):
- pan: still photos (--photos) seen through a window moved by whole pixels
  a frame, so the true chroma warp error is exactly zero: the mean |ab(t) -
  ab(t-1) shifted back| over the overlap.
- static: fixed-camera clips, on the pixels whose true lightness does not
  change from one frame to the next (|dL| < 1): the mean frame-to-frame
  change of the output's ab there, beside the truth's.
- moving clips: CDC (Liu et al., TCVC: the Jensen-Shannon divergence of the
  R, G and B histograms of frames t and t+k, mean over k = 1, 2, 4) and the
  warp error of Lai et al. (ECCV 2018) on ab, with Farneback flow from the
  true frames and their forward-backward occlusion mask, beside the true
  frames' own warp error (flow errors dominate it).
- everywhere: PSNR and colourfulness (Hasler & Suesstrunk) against the
  true colour frames.
- speed: frames per second end to end (decode, colorize, encode:
  `video.colorize_video`) at 640x360 and 1280x720, after one warm-up run.

The first --frames frames of each clip in ../shared/data/video. The tuning
clips (davis_tennis_siammask, sam2_05_default_juggle and a pan of
scikit-image's chelsea) are the ones the settings were chosen on; the
report leaves them out. Writes JSON with the machine, versions and date.
"""

import dataclasses
import os
import sys
import tempfile
import time

from absl import app
from absl import flags
import jax
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from colorjax import checkpoint  # pylint: disable=wrong-import-position
from colorjax import color  # pylint: disable=wrong-import-position
from colorjax import colorize  # pylint: disable=wrong-import-position
from colorjax import images  # pylint: disable=wrong-import-position
from colorjax import temporal  # pylint: disable=wrong-import-position
from colorjax import video  # pylint: disable=wrong-import-position
import common  # pylint: disable=wrong-import-position

CLIPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data',
                     'video')
STATIC = ('bgs_video03/video03.avi', 'sam2_01_dog/01_dog.mp4',
          'intel_one-by-one-person-detection/one-by-one-person-detection.mp4')
MOVING = ('skv_bikes/bikes.mp4', 'sam2_01_dog/01_dog.mp4',
          'intel_one-by-one-person-detection/one-by-one-person-detection.mp4')
TUNING = ('davis_tennis_siammask', 'sam2_05_default_juggle/05_default_juggle.mp4')
EVAL = os.path.join(CLIPS, '..', 'eval', 'kodak24')

_CHECKPOINT = flags.DEFINE_string('checkpoint', None, 'Model; default: the bundled one.')
_RESOLUTION = flags.DEFINE_string('resolution', 'auto', 'Working resolution.')
_FRAMES = flags.DEFINE_integer('frames', 120, 'Frames of each clip.')
_PHOTOS = flags.DEFINE_integer('photos', 4, 'Kodak24 photos panned (the first by name).')
_PAN_FRAMES = flags.DEFINE_integer('pan_frames', 24, 'Frames of each pan.')
_TUNE = flags.DEFINE_bool('tune', False, 'Sweep --carries on the tuning clips instead.')
_CARRIES = flags.DEFINE_list('carries', ['0.6', '0.75', '0.85', '0.92'], 'carry values to sweep.')
_SPEED_FRAMES = flags.DEFINE_integer('speed_frames', 150, 'Frames timed at each size.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/cpu_video.json', 'JSON output.')

_lab = jax.jit(lambda rgb: color.rgb_to_lab(rgb / 255.0))


def lab(frame: np.ndarray) -> np.ndarray:
  return np.asarray(_lab(np.asarray(frame, np.float32)))


def pan_frames(photo: np.ndarray, count: int, step=(1, 2)):
  """Frames of a still photo through a window (the photo less the pan's
  extent) moved by whole pixels."""
  dy, dx = step
  h, w = photo.shape[0] - dy * count, photo.shape[1] - dx * count
  return [np.ascontiguousarray(photo[dy * t:dy * t + h, dx * t:dx * t + w]) for t in range(count)]


def pan_flicker(outputs, step) -> float:
  dy, dx = step
  ab = [lab(frame)[..., 1:] for frame in outputs]
  h, w = ab[0].shape[:2]
  return float(np.mean([np.abs(ab[t][:h - dy, :w - dx] - ab[t - 1][dy:, dx:]).mean()
                        for t in range(1, len(ab))]))


def static_flicker(outputs, truth) -> tuple[float, float]:
  """Output's and truth's mean |d ab| where the true L changes by < 1."""
  out_changes, true_changes = [], []
  previous = None
  for out, true in zip(outputs, truth):
    current = (lab(out)[..., 1:], lab(true))
    if previous is not None:
      still = np.abs(current[1][..., 0] - previous[1][..., 0]) < 1.0
      if still.any():
        out_changes.append(np.abs(current[0] - previous[0])[still].mean())
        true_changes.append(np.abs(current[1][..., 1:] - previous[1][..., 1:])[still].mean())
    previous = current
  return float(np.mean(out_changes)), float(np.mean(true_changes))


def _js(p, q) -> float:
  m = 0.5 * (p + q)
  kl = lambda a, b: np.sum(np.where(a > 0, a * np.log2(np.maximum(a, 1e-12) / np.maximum(b, 1e-12)), 0))
  return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def cdc(frames, ks=(1, 2, 4)) -> float:
  hists = [[np.bincount(f[..., c].ravel(), minlength=256) / f[..., c].size for c in range(3)]
           for f in frames]
  per_k = []
  for k in ks:
    per_k.append(np.mean([np.mean([_js(hists[t][c], hists[t + k][c]) for c in range(3)])
                          for t in range(len(frames) - k)]))
  return float(np.mean(per_k))


def warp_error(outputs, truth) -> tuple[float, float]:
  """Lai et al.'s warp error on ab (mean |ab(t) - warped ab(t-1)| over the
  non-occluded pixels), with flow from the true frames; the output's and
  the truth's own."""
  import cv2  # pylint: disable=g-import-not-at-top
  errors = {'out': [], 'true': []}
  for t in range(1, len(truth)):
    gray = [cv2.cvtColor(truth[i], cv2.COLOR_RGB2GRAY) for i in (t - 1, t)]
    backward = cv2.calcOpticalFlowFarneback(gray[1], gray[0], None, 0.5, 3, 15, 3, 5, 1.2, 0)
    forward = cv2.calcOpticalFlowFarneback(gray[0], gray[1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
    h, w = gray[0].shape
    grid_y, grid_x = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x, map_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
    there = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR)
    mismatch = np.square(backward + there).sum(-1)
    visible = (mismatch < 0.01 * (np.square(backward).sum(-1) + np.square(there).sum(-1)) + 0.5)
    visible &= (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    for key, frames in (('out', outputs), ('true', truth)):
      ab = [lab(frames[i])[..., 1:] for i in (t - 1, t)]
      warped = cv2.remap(ab[0], map_x, map_y, cv2.INTER_LINEAR)
      errors[key].append(np.abs(ab[1] - warped)[visible].mean())
  return float(np.mean(errors['out'])), float(np.mean(errors['true']))


def psnr_cf(outputs, truth) -> tuple[float, float, float]:
  """Mean PSNR (RGB) and colourfulness of the outputs, and the truth's colourfulness."""
  def colourfulness(rgb):
    r, g, b = np.moveaxis(rgb.astype(np.float64), -1, 0)
    rg, yb = r - g, 0.5 * (r + g) - b
    return np.sqrt(rg.var() + yb.var()) + 0.3 * np.hypot(rg.mean(), yb.mean())
  psnr = [10 * np.log10(255.0**2 / max(np.mean(np.square(o.astype(np.float64) - t)), 1e-10))
          for o, t in zip(outputs, truth)]
  return (float(np.mean(psnr)), float(np.mean([colourfulness(o) for o in outputs])),
          float(np.mean([colourfulness(t) for t in truth])))


def both(colorizer, frames, resolution, settings=temporal.Settings()):
  """{'alone': outputs, 'temporal': outputs} and each one's seconds."""
  result = {}
  for mode in ('alone', 'temporal'):
    start = time.perf_counter()
    result[mode] = list(video.colorize_frames(colorizer, frames, resolution,
                                              stabilize=mode == 'temporal', settings=settings))
    result[mode + '_seconds'] = time.perf_counter() - start
  return result


def scores(outputs, truth, kind: str, step=None) -> dict:
  row = dict(zip(('psnr', 'colorfulness', 'colorfulness_truth'), psnr_cf(outputs, truth)))
  if kind == 'pan':
    row['pan_flicker'] = pan_flicker(outputs, step)
  if kind == 'static':
    row['static_flicker'], row['static_flicker_truth'] = static_flicker(outputs, truth)
  if kind == 'moving':
    row['cdc'], row['cdc_truth'] = cdc(outputs), cdc(truth)
    row['warp_error'], row['warp_error_truth'] = warp_error(outputs, truth)
  return row


def cut_row(segment: int = 15) -> dict:
  """The cut detector on shots of the two tuning clips spliced together
  (segment frames each, alternating): the cuts it finds against the splices."""
  shots = [clip_frames(name, 4 * segment) for name in TUNING]
  frames, truth = [], []
  for i in range(4):
    if i:
      truth.append(len(frames))
    frames += shots[i % 2][i // 2 * segment:(i // 2 + 1) * segment]
  stabilizer = temporal.Stabilizer()
  for rgb in frames:
    small = images.scale_to_shorter(rgb, 128)
    l = np.asarray(color.normalize(color.rgb_to_lab(small / 255.0))[0])
    stabilizer(l, np.zeros(l.shape[:2] + (2,), np.float32))
  return {'measure': 'cuts', 'clip': 'tennis and juggle spliced', 'frames': len(frames),
          'true_cuts': truth, 'found_cuts': stabilizer.cuts}


def clip_frames(name: str, count: int):
  return video.read_frames(os.path.join(CLIPS, name), count)


def speed_rows(colorizer, resolution) -> list[dict]:
  """Frames per second end to end for a 640x360 and a 1280x720 clip made
  from sam2_01_dog (its first --speed_frames frames)."""
  rows = []
  source = clip_frames('sam2_01_dog/01_dog.mp4', _SPEED_FRAMES.value)
  with tempfile.TemporaryDirectory() as tmp:
    for width, height in ((640, 360), (1280, 720)):
      frames = [f if f.shape[:2] == (height, width) else np.asarray(
          Image.fromarray(f).resize((width, height), Image.BILINEAR))
                for f in source]
      path = os.path.join(tmp, f'clip_{width}.mp4')
      video.write_frames(path, frames, fps=30)
      video.write_frames(os.path.join(tmp, 'warm.mp4'), frames[:8], fps=30)
      for mode in ('alone', 'temporal'):
        video.colorize_video(colorizer, os.path.join(tmp, 'warm.mp4'),
                             os.path.join(tmp, 'warm_out.mp4'), resolution,
                             stabilize=mode == 'temporal')
        start = time.perf_counter()
        count = video.colorize_video(colorizer, path, os.path.join(tmp, f'out_{mode}.mp4'),
                                     resolution, stabilize=mode == 'temporal')
        seconds = time.perf_counter() - start
        rows.append({'measure': 'speed', 'clip': f'sam2_01_dog at {width}x{height}',
                     'mode': mode, 'frames': count, 'seconds': seconds,
                     'frames_per_second': count / seconds})
        print(rows[-1], flush=True)
  return rows


def main(argv):
  del argv
  path = checkpoint.resolve(_CHECKPOINT.value)
  colorizer = colorize.Colorizer.from_checkpoint(path)
  resolution = colorize.parse_resolution(_RESOLUTION.value, None) if (
      _RESOLUTION.value != 'auto') else colorizer.resolution
  rows = []

  def add(name, kind, truth, step=None, settings=temporal.Settings(), extra=None):
    outputs = both(colorizer, truth, resolution, settings)
    for mode in ('alone', 'temporal'):
      row = {'measure': kind, 'clip': name, 'mode': mode, 'frames': len(truth),
             **(extra or {}), **scores(outputs[mode], truth, kind, step)}
      rows.append(row)
      print(row, flush=True)

  if _TUNE.value:
    import skimage.data  # pylint: disable=g-import-not-at-top
    rows.append(cut_row())
    print(rows[-1], flush=True)
    for carry in [float(c) for c in _CARRIES.value]:
      settings = temporal.Settings(carry=carry)
      add('chelsea pan', 'pan', pan_frames(skimage.data.chelsea(), 24), (1, 2), settings,
          {'carry': carry})
      for name in TUNING:
        add(name, 'moving', clip_frames(name, _FRAMES.value), None, settings, {'carry': carry})
  else:
    names = sorted(n for n in os.listdir(EVAL) if n.lower().endswith(('.png', '.jpg')))
    for name in names[:_PHOTOS.value]:
      with open(os.path.join(EVAL, name), 'rb') as f:
        photo = images.read_image(f.read())[0]
      for step in ((0, 1), (1, 2), (0, 3)):
        add(f'{name} pan {step}', 'pan', pan_frames(photo, _PAN_FRAMES.value, step), step)
    for name in STATIC:
      add(name, 'static', clip_frames(name, _FRAMES.value))
    for name in MOVING:
      add(name, 'moving', clip_frames(name, _FRAMES.value))
    rows += speed_rows(colorizer, resolution)
  environment = {**common.environment(), 'checkpoint': path, 'resolution': resolution,
                 'settings': dataclasses.asdict(temporal.Settings())}
  common.write(_OUT.value, environment, rows)
  columns = list(dict.fromkeys(k for row in rows for k in row))
  print(common.markdown(rows, columns))


if __name__ == '__main__':
  app.run(main)

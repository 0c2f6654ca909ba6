"""The bundled model: it loads by default and colorizes a photo it never saw."""

import os

import numpy as np
from PIL import Image
import pytest
import skimage.color
import skimage.data

from colorjax import checkpoint
from colorjax import colorize
from colorjax import inference
from colorjax import metrics
from tests.conftest import REPO
from tests.conftest import run_module


def test_bundled_model_is_the_default_and_adds_colour():
  model, variables, info = inference.load_model(checkpoint.resolve(None))
  assert info['path'] == checkpoint.PRETRAINED
  assert info['step'] == 7954 and info['config']['model']['widths'] == [32, 64, 128, 256]
  resolution = colorize.default_resolution(info['config'])
  assert resolution == 128
  photo = skimage.data.coffee()  # Not in the training photos.
  gray = np.round(skimage.color.rgb2gray(photo) * 255).astype(np.uint8)
  out = colorize.Colorizer(model, variables).colorize(gray, resolution)
  assert out.shape == photo.shape
  mask = np.ones(gray.shape, bool)
  assert float(metrics.colorfulness(out / 255.0, mask)) > 5.0
  l_in = skimage.color.rgb2lab(np.repeat(gray[..., None], 3, -1))[..., 0]
  assert np.abs(skimage.color.rgb2lab(out)[..., 0] - l_in).max() < 1.0
  assert os.path.getsize(os.path.join(REPO, 'MODEL_CARD.md')) > 0


def test_colorize_command_needs_no_checkpoint(tmp_path):
  Image.fromarray(skimage.data.chelsea()).convert('L').save(tmp_path / 'cat.png')
  result = run_module(['colorjax.colorize', str(tmp_path / 'cat.png'),
                       f'--out={tmp_path / "out"}'])
  assert '1 colorized' in result.stderr and 'resolution 128' in result.stderr
  assert Image.open(tmp_path / 'out' / 'cat.png').size == (451, 300)


def test_a_missing_hint_bundle_is_one_sentence(monkeypatch, tmp_path):
  monkeypatch.setattr(checkpoint, 'PRETRAINED_HINTS', str(tmp_path / 'absent'))
  with pytest.raises(FileNotFoundError, match='no hint-conditioned pretrained model ships'):
    checkpoint.resolve(None, hints=True)
  assert checkpoint.resolve('runs/mine', hints=True) == 'runs/mine'


def test_bundled_hint_model_follows_a_hint(tmp_path):
  """The hint-conditioned bundle: found by `colorize --hints` without a
  checkpoint, and the colour under a hint moves to the hint's."""
  model, variables, info = inference.load_model(checkpoint.resolve(None, hints=True))
  assert info['path'] == checkpoint.PRETRAINED_HINTS and info['step'] == 8000
  colorizer = colorize.Colorizer(model, variables)
  assert colorizer.hinted and colorize.default_resolution(info['config']) == 128
  photo = skimage.data.coffee()  # Not in the training photos; 400x600.
  gray = np.round(skimage.color.rgb2gray(photo) * 255).astype(np.uint8)
  # Under each hint (a 9x9 window), the output takes the hint's hue and
  # moves towards its colour (measured with the stored hint propagation:
  # within 1 degree, and 52-73 LAB units along the hint's ab direction; the
  # network alone: within 5 degrees, 50-66 units; without hints the blue
  # and green spots are 131 and 74 degrees off).
  def window_ab(image, x, y):
    return skimage.color.rgb2lab(image)[y - 4:y + 5, x - 4:x + 5, 1:].mean((0, 1))

  plain = colorizer.colorize(gray, 128)  # No hints: one colorization for all three.
  for x, y, rgb in ((300, 80, (40, 90, 220)), (300, 80, (60, 170, 60)),
                    (450, 250, (220, 40, 40))):
    without = window_ab(plain, x, y)
    a, b = window_ab(colorizer.colorize(gray, 128, hints=[(x, y, rgb)]), x, y)
    want = skimage.color.rgb2lab(np.asarray([[rgb]], np.uint8))[0, 0, 1:]
    turn = np.degrees(np.arctan2(b, a) - np.arctan2(want[1], want[0]))
    moved = (np.array([a, b]) - without) @ (want / np.linalg.norm(want))
    assert abs((turn + 180) % 360 - 180) < 60 and moved > 10, (rgb, a, b, moved)

  hints_file = tmp_path / 'hints.json'
  hints_file.write_text('{"coffee.png": [{"x": 300, "y": 80, "rgb": [40, 90, 220]}]}')
  Image.fromarray(gray).save(tmp_path / 'coffee.png')
  result = run_module(['colorjax.colorize', str(tmp_path / 'coffee.png'),
                       f'--out={tmp_path / "out"}', f'--hints={hints_file}'])
  assert '1 colorized' in result.stderr

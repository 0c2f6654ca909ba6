"""The colorize API: any size in, same size out, the input's lightness kept."""

import jax
import numpy as np
import pytest
import skimage.color

from colorjax import checkpoint
from colorjax import colorize
from colorjax import inference
from tests.conftest import photo_crops


@pytest.fixture(scope='module')
def colorizer(tiny_run):
  model, variables, _ = inference.load_model(tiny_run)
  return colorize.Colorizer(model, variables)


@pytest.mark.parametrize('resolution', [colorize.NATIVE, 16, 48])
@pytest.mark.parametrize('height,width', [(37, 53), (64, 64), (16, 90)])
def test_output_has_the_input_size_and_lightness(colorizer, resolution, height, width):
  rgb = photo_crops(1, height, width)[0]
  out = colorizer.colorize(rgb, resolution)
  assert out.shape == (height, width, 3) and out.dtype == np.uint8
  l_in = skimage.color.rgb2lab(rgb)[..., 0]
  l_out = skimage.color.rgb2lab(out)[..., 0]
  assert np.abs(l_in - l_out).max() < 1.0  # uint8 rounding only.


def test_gray_inputs_of_every_layout_agree(colorizer):
  rgb = photo_crops(1, 40, 48)[0]
  gray = np.round(skimage.color.rgb2gray(rgb) * 255).astype(np.uint8)
  as_rgb = np.repeat(gray[..., None], 3, axis=-1)
  expected = colorizer.colorize(as_rgb, 32)
  np.testing.assert_array_equal(colorizer.colorize(gray, 32), expected)
  np.testing.assert_array_equal(colorizer.colorize(gray[..., None], 32), expected)
  rgba = np.concatenate([as_rgb, np.full((40, 48, 1), 255, np.uint8)], -1)
  np.testing.assert_array_equal(colorizer.colorize(rgba, 32), expected)


def test_a_batch_equals_one_image_at_a_time(colorizer):
  images = np.stack(photo_crops(3, 40, 56))
  batch = colorizer.colorize(images, 24)
  assert batch.shape == images.shape
  for image, out in zip(images, batch):
    np.testing.assert_array_equal(colorizer.colorize(image, 24), out)


def test_function_form_and_bad_inputs(tiny_run):
  model, variables, _ = inference.load_model(tiny_run)
  rgb = photo_crops(1, 20, 30)[0]
  assert colorize.colorize(rgb, model, variables).shape == (20, 30, 3)
  with pytest.raises(ValueError, match='must be uint8'):
    colorize.colorize(rgb.astype(np.float32), model, variables)
  assert colorize.working_size(512, 768, 128) == (128, 192)
  assert colorize.working_size(512, 768, colorize.NATIVE) == (512, 768)
  # Never more than MAX_WORKING_PIXELS, whatever the shape or resolution:
  # a hostile 1 x 30,000 file would ask for 32 x 960,000 at shorter side 32.
  for height, width, resolution in [(400, 12_000, 128), (4000, 3000, colorize.NATIVE),
                                    (12_000, 9_000, 4_000)]:
    h, w = colorize.working_size(height, width, resolution)
    assert h * w <= colorize.MAX_WORKING_PIXELS
    assert abs(w / h - width / height) < 0.01 * width / height
  with pytest.raises(ValueError, match='1x30000 pixels, more than 32 times longer'):
    colorize.working_size(30_000, 1, 32)
  assert colorize.parse_resolution('native') == colorize.NATIVE
  assert colorize.parse_resolution('96') == 96
  assert colorize.parse_resolution('auto', {'data': {'resize_shorter': 128}}) == 128
  with pytest.raises(ValueError, match='positive number of pixels'):
    colorize.parse_resolution('auto')  # Only a model's config gives it a meaning.
  with pytest.raises(ValueError, match='positive number of pixels'):
    colorize.parse_resolution('-3')


def test_large_images_go_through_in_strips_with_the_same_result(colorizer, monkeypatch):
  rgb = photo_crops(1, 150, 200)[0]
  whole = colorizer.colorize(rgb, 48)
  monkeypatch.setattr(colorize, '_STRIP_ROWS', 32)
  monkeypatch.setattr(colorize, '_STRIP_PIXELS', 0)  # Every image is "large".
  np.testing.assert_array_equal(colorizer.colorize(rgb, 48), whole)


def test_export_keeps_what_inference_needs(tiny_run, tmp_path):
  exported = inference.export(tiny_run, str(tmp_path / 'exported'))
  model, variables, info = inference.load_model(exported)
  _, original, original_info = inference.load_model(tiny_run)
  assert info['step'] == original_info['step'] == 2
  assert info['config'] == original_info['config']
  np.testing.assert_array_equal(
      colorize.Colorizer(model, variables).colorize(photo_crops(1, 30, 40)[0], 32),
      colorize.Colorizer(model, original).colorize(photo_crops(1, 30, 40)[0], 32))
  state, _ = checkpoint.load(exported)
  assert 'opt_state' not in state
  # bfloat16 storage: half the bytes, float32 computation, nearly the same picture.
  half = inference.export(tiny_run, str(tmp_path / 'half'), bfloat16=True)
  half_state, _ = checkpoint.load(half)
  assert half_state['params']['head']['kernel'].dtype == jax.numpy.bfloat16
  model, half_variables, _ = inference.load_model(half)
  assert half_variables['params']['head']['kernel'].dtype == np.float32
  rgb = photo_crops(1, 30, 40)[0]
  difference = np.abs(colorize.Colorizer(model, half_variables).colorize(rgb, 32).astype(int)
                      - colorize.Colorizer(model, original).colorize(rgb, 32).astype(int))
  assert difference.mean() < 1.0


def test_the_bundled_models_in_one_call_at_their_training_scale():
  import skimage.data
  photo = skimage.data.chelsea()[::2, ::2]
  colorizer = colorize.Colorizer.pretrained()
  assert colorizer.resolution == 128 and not colorizer.hinted
  np.testing.assert_array_equal(colorizer.colorize(photo), colorizer.colorize(photo, 128))
  assert colorize.Colorizer.pretrained(hints=True).hinted

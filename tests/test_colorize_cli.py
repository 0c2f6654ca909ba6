"""The colorize command on folders of real-world files, good and broken."""

import io
import os
import re
import sys

import numpy as np
from PIL import Image
import pytest
import skimage.color

from colorjax import colorize
from colorjax import evaluate
from colorjax import images
from colorjax import inference
from colorjax import sources

from tests.conftest import photo_crops
from tests.conftest import run_module
from tests.test_input_pipeline import _encode
from tests.test_input_pipeline import _png16


@pytest.fixture
def photo_kinds(tmp_path):
  """One file of each kind people have, nested, plus a broken one."""
  folder = tmp_path / 'in'
  (folder / 'album').mkdir(parents=True)
  photo = Image.fromarray(photo_crops(1, 40, 56)[0])
  exif = Image.Exif()
  exif[0x0112] = 6
  rgba = photo.convert('RGBA')
  rgba.putalpha(Image.linear_gradient('L').resize(photo.size))
  files = {
      'gray.png': _encode(photo.convert('L'), 'PNG'),
      'gray_alpha.png': _encode(photo.convert('LA'), 'PNG'),
      'rgb.jpg': _encode(photo, 'JPEG'),
      'album/rgba.png': _encode(rgba, 'PNG'),
      'album/palette.png': _encode(photo.convert('P'), 'PNG'),
      'album/cmyk.jpg': _encode(photo.convert('CMYK'), 'JPEG'),
      'album/deep.png': _png16(np.asarray(photo).astype(np.uint16) * 257),
      'album/rotated.jpg': _encode(photo, 'JPEG', exif=exif),
      'tiny.png': _encode(photo.resize((16, 16)), 'PNG'),
      'album/broken.jpg': b'\xff\xd8\xff\xe0 truncated',
  }
  for name, data in files.items():
    (folder / name).write_bytes(data)
  return str(folder)


def _colorize(tiny_run, *args):
  return run_module(['colorjax.colorize', f'--checkpoint={tiny_run}', '--resolution=32',
                     *args], check=False)


def test_folder_of_every_kind_keeps_structure_sizes_and_alpha(tiny_run, photo_kinds, tmp_path):
  out = str(tmp_path / 'out')
  result = _colorize(tiny_run, photo_kinds, f'--out={out}')
  assert result.returncode == 1  # One broken file.
  assert 'failed: ' in result.stderr and 'album/broken.jpg' in result.stderr
  assert '9 colorized, 0 already done' in result.stderr and '1 failed' in result.stderr
  expected = {'gray.png': (40, 56), 'gray_alpha.png': (40, 56), 'rgb.png': (40, 56),
              'album/rgba.png': (40, 56), 'album/palette.png': (40, 56),
              'album/cmyk.png': (40, 56), 'album/deep.png': (40, 56),
              'album/rotated.png': (56, 40), 'tiny.png': (16, 16)}
  for name, size in expected.items():
    image = Image.open(os.path.join(out, name))
    assert image.size[::-1] == size, name
  assert Image.open(os.path.join(out, 'album/rgba.png')).mode == 'RGBA'
  alpha_in = np.asarray(Image.open(os.path.join(photo_kinds, 'album/rgba.png')))[..., 3]
  alpha_out = np.asarray(Image.open(os.path.join(out, 'album/rgba.png')))[..., 3]
  np.testing.assert_array_equal(alpha_out, alpha_in)
  # The output keeps the input's lightness.
  rgb_in = np.asarray(Image.open(os.path.join(photo_kinds, 'gray.png')).convert('RGB'))
  rgb_out = np.asarray(Image.open(os.path.join(out, 'gray.png')))
  l_in, l_out = (skimage.color.rgb2lab(x)[..., 0] for x in (rgb_in, rgb_out))
  assert np.abs(l_in - l_out).max() < 1.0


def test_skips_done_files_unless_overwrite_and_writes_jpeg(tiny_run, photo_kinds, tmp_path):
  out = str(tmp_path / 'out')
  pattern = os.path.join(photo_kinds, '*.png')
  first = _colorize(tiny_run, pattern, f'--out={out}', '--format=jpeg')
  assert first.returncode == 0, first.stderr[-2000:]
  assert sorted(os.listdir(out)) == ['gray.jpg', 'gray_alpha.jpg', 'tiny.jpg']
  assert Image.open(os.path.join(out, 'gray.jpg')).format == 'JPEG'
  again = _colorize(tiny_run, pattern, f'--out={out}', '--format=jpeg')
  assert '0 colorized, 3 already done' in again.stderr
  forced = _colorize(tiny_run, pattern, f'--out={out}', '--format=jpeg', '--overwrite')
  assert '3 colorized, 0 already done' in forced.stderr


def test_missing_inputs_and_model_are_reported(tiny_run, tmp_path):
  result = _colorize(tiny_run, str(tmp_path / 'nothing_here.jpg'), f'--out={tmp_path}')
  assert result.returncode == 1 and 'no such file, folder or match' in result.stderr
  result = run_module(['colorjax.colorize', '--checkpoint=/no/run', str(tmp_path),
                       f'--out={tmp_path}'], check=False)
  assert result.returncode == 1 and "No checkpoint found at '/no/run'" in result.stderr
  assert 'Traceback' not in result.stderr


def test_two_inputs_never_share_an_output(tiny_run, tmp_path):
  from colorjax import colorize
  photo = Image.fromarray(photo_crops(1, 32, 32)[0])
  for name in ('same/a.jpg', 'same/a.png', 'two/x/p.jpg', 'two/y/p.jpg'):
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    photo.save(tmp_path / name)
  out = tmp_path / 'out'
  # A folder with a.jpg and a.png: both would become a.png.
  result = _colorize(tiny_run, str(tmp_path / 'same'), f'--out={out}')
  errors = [l for l in result.stderr.splitlines() if l.startswith('error: ')]
  assert result.returncode == 1 and len(errors) == 1, result.stderr[-2000:]
  assert 'a.jpg and ' in errors[0] and 'a.png would both be written to' in errors[0]
  assert not out.exists()  # Refused before anything was written.
  # Files of one name from two folders, given as files or as the folders.
  for inputs in (['two/x/p.jpg', 'two/y/p.jpg'], ['two/x', 'two/y']):
    items, _ = images.collect([str(tmp_path / i) for i in inputs])
    with pytest.raises(ValueError, match='p.jpg would both be written to .*p.png'):
      colorize.check_distinct_outputs(items, str(out), 'png')
  # Their parent folder keeps them apart: out/x/p.png and out/y/p.png.
  items, _ = images.collect([str(tmp_path / 'two')])
  colorize.check_distinct_outputs(items, str(out), 'png')
  assert len(items) == 2


class _Terminal(io.StringIO):
  """A stream that says it is a terminal, as tqdm asks."""

  def isatty(self):
    return True


def test_progress_on_a_terminal_only(tiny_run, tmp_path, monkeypatch):
  """Count, rate and time left while colorizing or evaluating many files when
  the output is a terminal; nothing at all when it is not (logs, pipes)."""
  folder = tmp_path / 'in'
  folder.mkdir()
  for i, crop in enumerate(photo_crops(3, 24, 24)):
    Image.fromarray(crop).save(folder / f'{i}.png')
  model, variables, _ = inference.load_model(tiny_run)
  colorizer = colorize.Colorizer(model, variables)
  items, _ = images.collect([str(folder)])
  terminal, pipe = _Terminal(), io.StringIO()
  colorize.run(colorizer, items, str(tmp_path / 'out'), 32, 'png', False, log=terminal)
  assert re.search(r'3/3 \[[0-9:]+<[0-9:]+, *[0-9.]+(photo/s|s/photo)\]', terminal.getvalue())
  colorize.run(colorizer, items, str(tmp_path / 'out'), 32, 'png', True, log=pipe)
  assert pipe.getvalue() == ''

  source, names = sources.open_images(str(folder))
  monkeypatch.setattr(sys, 'stderr', _Terminal())
  evaluate.evaluate(colorizer, source, names, 32, grid_images=0)
  assert re.search(r'evaluate: 100%.*3/3 \[', sys.stderr.getvalue())

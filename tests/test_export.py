"""Using colorjax from elsewhere: the exported colorizer (colorjax.export),
which runs without colorjax, and the fine-tuning example in docs/."""

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
import skimage.data

from colorjax import checkpoint
from colorjax import colorize
from colorjax import inference
from tests.conftest import REPO
from tests.conftest import run_module
from tests.conftest import write_photo_folder

# Runs a program with only jax and numpy: importing colorjax, flax, optax or
# orbax fails in this process.
_SERVE_WITHOUT_COLORJAX = """
import builtins, sys
import numpy as np
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
  if name.split('.')[0] in ('colorjax', 'flax', 'optax', 'orbax'):
    raise ImportError(name + ' is not installed here')
  return real_import(name, *args, **kwargs)
builtins.__import__ = guarded
from jax import export
with open(sys.argv[1], 'rb') as f:
  program = export.deserialize(f.read())
np.save(sys.argv[3], np.asarray(program.call(np.load(sys.argv[2]))))
"""


def test_exported_program_colorizes_like_colorize_without_colorjax(tmp_path):
  out = tmp_path / 'exported'
  run_module(['colorjax.export', f'--out={out}', '--sizes=200x150,150x200'])
  card = json.loads((out / 'card.json').read_text())
  assert {(p['height'], p['width']) for p in card['programs']} == {(150, 200), (200, 150)}
  assert card['working_resolution'] == 128 and card['platforms'] == ['cpu']

  photo = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((200, 150), Image.BILINEAR))
  batch = np.stack([photo, photo[:, ::-1]])  # A batch of 2: the batch is symbolic.
  np.save(tmp_path / 'in.npy', batch)
  program = out / card['programs'][0]['file']
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  subprocess.run([sys.executable, '-c', _SERVE_WITHOUT_COLORJAX, str(program),
                  str(tmp_path / 'in.npy'), str(tmp_path / 'out.npy')],
                 check=True, cwd=tmp_path, env=env, timeout=300)
  served = np.load(tmp_path / 'out.npy')

  model, variables, _ = inference.load_model(checkpoint.resolve(None))
  colorizer = colorize.Colorizer(model, variables)
  expected = colorizer.colorize(batch, 128)
  gray = colorizer.gray(colorizer.lightness(batch))
  assert served.shape == expected.shape and served.dtype == np.uint8
  difference = np.abs(served.astype(int) - expected.astype(int))
  # The resizes are jax.image.resize's, not PIL's: measured, a mean of 2e-5
  # and at most 1 level of 255 here, where the colour moves gray by about 10.
  assert difference.mean() < 1.0
  assert np.abs(gray.astype(int) - expected.astype(int)).mean() > 2  # Measured: 10.1.


def test_bad_sizes_get_one_sentence(tmp_path):
  result = run_module(['colorjax.export', f'--out={tmp_path}', '--sizes=200by150'], check=False)
  assert result.returncode == 1
  assert "Sizes are WIDTHxHEIGHT in pixels separated by commas, e.g. 768x512,512x768; " \
         "'200by150' is not one." in result.stderr
  assert 'Traceback' not in result.stderr


def test_the_fine_tuning_example_runs(tmp_path):
  """docs/finetune.py, the example of colorjax used from another JAX program."""
  folder = tmp_path / 'photos'
  write_photo_folder(str(folder), 4)
  photo = folder / os.listdir(folder)[0]
  env = dict(os.environ, PYTHONPATH=REPO)
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, 'docs', 'finetune.py'), f'--photos={folder}',
       '--steps=3', '--batch=2', '--size=32', f'--colorize={photo}',
       f'--out={tmp_path / "out.png"}'],
      cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'step 3: loss' in result.stdout
  assert Image.open(tmp_path / 'out.png').size == Image.open(photo).size

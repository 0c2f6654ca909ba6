"""colorjax as another project gets it: a wheel installed outside the checkout."""

import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, **kwargs):
  result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
  assert result.returncode == 0, f'{args}\n{result.stdout}\n{result.stderr}'
  return result


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
  """A fresh virtual environment with the wheel built from this checkout.

  The wheel is built from a copy of the files pyproject.toml packages (the
  checkout stays untouched) and installed without its dependencies, which
  come from the environment running the tests through a .pth file: no
  network needed. Returns the environment's bin directory and a working
  directory outside the checkout.
  """
  tmp = tmp_path_factory.mktemp('package')
  source = tmp / 'source'
  source.mkdir()
  for name in ('pyproject.toml', 'README.md', 'LICENSE'):
    shutil.copy(os.path.join(REPO, name), source / name)
  shutil.copytree(os.path.join(REPO, 'colorjax'), source / 'colorjax',
                  ignore=shutil.ignore_patterns('__pycache__'))
  _run([sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps', '--no-index',
        '--no-build-isolation', '--wheel-dir', str(tmp / 'wheels'), str(source)])
  wheel, = (tmp / 'wheels').glob('colorjax-*.whl')
  environment = tmp / 'venv'
  _run([sys.executable, '-m', 'venv', str(environment)])
  bin_dir = environment / 'bin'
  purelib = _run([str(bin_dir / 'python'), '-c',
                  'import sysconfig; print(sysconfig.get_paths()["purelib"])']).stdout.strip()
  here = sysconfig.get_paths()
  with open(os.path.join(purelib, 'dependencies.pth'), 'w') as f:
    f.write('\n'.join(sorted({here['purelib'], here['platlib']})) + '\n')
  _run([str(bin_dir / 'python'), '-m', 'pip', 'install', '--quiet', '--no-deps',
        '--no-index', str(wheel)])
  elsewhere = tmp / 'elsewhere'
  elsewhere.mkdir()
  return bin_dir, elsewhere


def test_the_installed_package_declares_the_apache_licence(installed):
  bin_dir, elsewhere = installed
  program = ('from importlib import metadata; m = metadata.metadata("colorjax"); '
             'print(m["License-Expression"]); '
             'print(any(f.name == "LICENSE" for f in metadata.files("colorjax")))')
  result = _run([str(bin_dir / 'python'), '-c', program], cwd=elsewhere, env=_clean_env())
  assert result.stdout.split() == ['Apache-2.0', 'True']


def _clean_env():
  return {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONSAFEPATH')}


def test_the_wheel_serves_other_code_from_anywhere(installed):
  bin_dir, elsewhere = installed
  program = """
import numpy as np, skimage.data
import colorjax, colorjax.models
from colorjax import checkpoint, colorize, inference
print(colorjax.__file__)
assert hasattr(colorjax.models, 'UNet') and hasattr(colorjax.models, 'CNN')
model, variables, info = inference.load_model(checkpoint.resolve(None))  # Bundled.
photo = skimage.data.astronaut()[::4, ::4]
out = colorize.Colorizer(model, variables).colorize(photo, 128)
assert out.shape == photo.shape and out.dtype == np.uint8
lab = skimage.color.rgb2lab(out)
print('chroma', float(np.hypot(lab[..., 1], lab[..., 2]).mean()))
"""
  result = _run([str(bin_dir / 'python'), '-c', program], cwd=elsewhere, env=_clean_env())
  location, chroma = result.stdout.split()[0], float(result.stdout.split()[-1])
  assert location.startswith(str(bin_dir.parent)), location  # Not the checkout.
  assert chroma > 2  # Colour, not gray (measured with the bundled model: 10.0).


@pytest.mark.parametrize('script', ['colorjax-colorize', 'colorjax-train', 'colorjax-evaluate',
                                    'colorjax-serve', 'colorjax-export'])
def test_console_scripts(installed, script):
  bin_dir, elsewhere = installed
  result = subprocess.run([str(bin_dir / script), '--help'], cwd=elsewhere, env=_clean_env(),
                          capture_output=True, text=True, timeout=300)
  # absl's --help exits with 1 after printing the flags.
  assert result.returncode in (0, 1) and 'Traceback' not in result.stderr, result.stderr
  assert 'flags:' in result.stdout
  if script == 'colorjax-colorize':
    assert '--out' in result.stdout and '--resolution' in result.stdout


def test_inference_reads_photos_without_grain_or_tfds(tiny_run):
  """colorize, serve and evaluate's library load a model and read photos
  without importing the training data pipeline (grain) or TFDS."""
  code = ('import sys; from colorjax import colorize, images, inference, serve, evaluate; '
          f'm, v, i = inference.load_model({tiny_run!r}); '
          'colorize.Colorizer(m, v); '
          'print(sorted(n for n in ("grain", "tensorflow_datasets", "tensorflow") '
          'if n in sys.modules))')
  out = subprocess.run([sys.executable, '-c', code], cwd=REPO, check=True,
                       capture_output=True, text=True).stdout.strip().splitlines()[-1]
  assert out == '[]', f'inference imported {out}'


def test_colorjax_modules_import_top_down_without_a_cycle():
  """Every colorjax import, at module level or inside a function: no module
  reaches itself (checkpoint and tasks once imported each other)."""
  import ast  # pylint: disable=g-import-not-at-top
  root = os.path.join(REPO, 'colorjax')
  graph = {}
  for folder, _, files in os.walk(root):
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(folder, name)
        module = os.path.relpath(path, REPO)[:-3].replace(os.sep, '.').removesuffix('.__init__')
        graph[module] = set()
        for node in ast.walk(ast.parse(open(path).read())):
          if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('colorjax'):
            graph[module] |= {f'{node.module}.{a.name}' for a in node.names} | {node.module}
  graph = {m: {d for d in deps if d in graph and d != m and not m.startswith(d + '.')}
           for m, deps in graph.items()}
  state = {}

  def visit(module, path):
    state[module] = 'open'
    for dep in sorted(graph[module]):
      assert state.get(dep) != 'open', ' -> '.join(path + [dep])
      if dep not in state:
        visit(dep, path + [dep])
    state[module] = 'done'

  for module in sorted(graph):
    if module not in state:
      visit(module, [module])
  assert 'colorjax.tasks' in graph['colorjax.inference']
  assert not graph['colorjax.checkpoint'] - {'colorjax.errors'}

"""Shared test helpers: small real-photo folders and running entry points.

The suite runs in two processes (pytest-xdist, `-n 2` in pyproject.toml's
pytest options: on 2 cores most of a test's time is single-threaded Python,
compilation and command start-up). Three settings hold for the whole suite,
set here before JAX starts:
- This process sees 8 CPU devices (as big_vision's tests do), so data-parallel
  equivalence is tested in-process on a mesh of 8 (`parallel.make_mesh(8)`)
  against a command on one device; single-device code runs on device 0 as
  usual. Commands started by the tests see one device unless a test asks for
  more.
- Compiled programs are cached on disk for the session (JAX's persistent
  compilation cache, in a fresh temporary folder), shared by both workers and
  the commands the tests start: many tests train the same tiny networks, and compilation,
  not computation, is most of their time.
- XLA compiles with --xla_backend_optimization_level=0 (here and in the
  commands): half the compilation time of a tiny run (13.0 s -> 6.3 s on 2
  CPU cores, 2026-11-26) for the same functions; results differ from the
  default level at rounding level only (2e-7 in a tiny run's parameters), and
  every comparison in the suite is between runs made the same way.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

# One cache for the session's processes: pytest-xdist's workers (started with
# this process's environment) and the commands they start share it.
_XLA_CACHE = (os.environ.get('COLORJAX_TEST_XLA_CACHE')
              or tempfile.mkdtemp(prefix='colorjax-test-xla-cache-'))
os.environ.update({  # Read by JAX here and in every command a test starts.
    'COLORJAX_TEST_XLA_CACHE': _XLA_CACHE,
    'JAX_COMPILATION_CACHE_DIR': _XLA_CACHE,
    'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0',
    'JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES': '-1',
    'XLA_FLAGS': (os.environ.get('XLA_FLAGS', '') +
                  ' --xla_backend_optimization_level=0').strip(),
})

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position
import skimage.data  # pylint: disable=g-import-not-at-top,wrong-import-position

jax.config.update('jax_num_cpu_devices', 8)
jax.config.update('jax_compilation_cache_dir', _XLA_CACHE)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_sessionfinish(session, exitstatus):
  del session, exitstatus
  if 'PYTEST_XDIST_WORKER' not in os.environ:  # The cache is shared: the controller removes it, last.
    shutil.rmtree(_XLA_CACHE, ignore_errors=True)


def photo_crops(count: int, height: int = 40, width: int = 48, seed: int = 0):
  """`count` uint8 RGB crops of scikit-image's colour photos."""
  photos = [skimage.data.astronaut(), skimage.data.chelsea(),
            skimage.data.coffee(), skimage.data.rocket()]
  rng = np.random.default_rng(seed)
  crops = []
  for i in range(count):
    photo = photos[i % len(photos)]
    top = rng.integers(0, photo.shape[0] - height)
    left = rng.integers(0, photo.shape[1] - width)
    crops.append(photo[top:top + height, left:left + width])
  return crops


def write_photo_folder(folder, count: int, seed: int = 0, **kwargs):
  """Writes `count` photo crops as PNG files into `folder`; returns their paths."""
  from PIL import Image
  os.makedirs(folder, exist_ok=True)
  paths = []
  for i, crop in enumerate(photo_crops(count, seed=seed, **kwargs)):
    path = os.path.join(folder, f'photo_{seed}_{i:03d}.png')
    Image.fromarray(crop).save(path)
    paths.append(path)
  return paths


@pytest.fixture
def photo_folder(tmp_path):
  folder = tmp_path / 'photos'
  write_photo_folder(str(folder), 24)
  return str(folder)


def free_port() -> int:
  """A TCP port on 127.0.0.1 that nothing listens on now."""
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@contextlib.contextmanager
def serving(checkpoint_path: str, resolution: int = 32):
  """`python -m colorjax.serve` of a checkpoint on a free port; yields its URL."""
  port = free_port()
  env = dict(os.environ, PYTHONPATH=REPO)
  process = subprocess.Popen(
      [sys.executable, '-m', 'colorjax.serve', f'--checkpoint={checkpoint_path}',
       f'--port={port}', f'--resolution={resolution}'], cwd=REPO, env=env,
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  url = f'http://127.0.0.1:{port}'
  serving.process = process  # For tests that signal the server.
  deadline = time.time() + 120
  while time.time() < deadline:
    try:
      urllib.request.urlopen(url + '/healthz', timeout=1)
      break
    except OSError:
      if process.poll() is not None:
        pytest.fail(process.stdout.read()[-3000:])
      time.sleep(0.3)
  try:
    yield url
  finally:
    if process.poll() is None:
      process.terminate()
      process.wait(timeout=30)


CHROMIUM = shutil.which('chromium')
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update',
                 '--disable-sync']


def run_module(args, *, cwd=None, env=None, timeout=600, check=True):
  """Runs `python -m ARGS` with the repository importable; returns the result."""
  full_env = dict(os.environ)
  full_env['PYTHONPATH'] = REPO + os.pathsep + full_env.get('PYTHONPATH', '')
  full_env.update(env or {})
  result = subprocess.run([sys.executable, '-m', *args], cwd=cwd or REPO,
                          env=full_env, capture_output=True, text=True,
                          timeout=timeout)
  if check and result.returncode != 0:
    raise AssertionError(f'{args} failed ({result.returncode}):\n'
                         f'{result.stderr[-4000:]}')
  return result


# A tiny U-Net run on a photo folder, fast on a CPU: config field -> value,
# on top of configs/quickstart.py. The one definition behind `tiny_config`
# (in-process runs) and `tiny_overrides` (the same run as command-line flags).
TINY = {
    'data.source': 'folder',
    'data.eval_fraction': 0.25,
    'data.image_size': 32,
    'data.cache': True,
    'data.num_threads': 2,
    'model.widths': (8, 16),
    'model.bottleneck': 16,
    'global_batch_size': 8,
    'eval.batch_size': 8,
    'opt.warmup_steps': 1,
    # Constant after warm-up: no constant in the step depends on the run's
    # length, so runs of any length share one compiled train step.
    'opt.schedule': 'constant',
    'log_every_steps': 2,
    'eval_every_steps': 0,
    'checkpoint_every_steps': 4,
    'image_grid_size': 2,
}


def _tiny_fields(folder, steps, overrides):
  return {**TINY, 'data.folder': folder, 'num_train_steps': steps, **overrides}


def tiny_config(folder: str = '', steps: int = 8, config: str = 'quickstart',
                **overrides):
  """configs/<config>.py with TINY and `overrides` ({'opt.learning_rate': 1.0})."""
  import importlib  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f'configs.{config}').get_config()
  for key, value in _tiny_fields(folder, steps, overrides).items():
    *parents, leaf = key.split('.')
    node = config
    for parent in parents:
      node = node[parent]
    node[leaf] = value
  return config


def tiny_overrides(workdir, folder, steps=8, **overrides):
  """`tiny_config` as flags for `python -m colorjax.main --config=configs/<config>.py`."""
  def text(value):
    if isinstance(value, tuple):
      return '(' + ','.join(map(str, value)) + ')'
    return str(value)
  fields = _tiny_fields(folder, steps, overrides)
  return [f'--workdir={workdir}'] + [f'--config.{k}={text(v)}' for k, v in fields.items()]


@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory):
  """A run directory with a 2-step tiny U-Net checkpoint, trained once per
  session by the command (whose compiled programs other tests share)."""
  root = tmp_path_factory.mktemp('tiny_run')
  folder = str(root / 'photos')
  write_photo_folder(folder, 12)
  workdir = str(root / 'run')
  run_module(['colorjax.main', '--config=configs/quickstart.py',
              *tiny_overrides(workdir, folder, steps=2)])
  return workdir

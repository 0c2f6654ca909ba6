"""What every benchmark records beside its numbers: machine, versions, date."""

import datetime
import importlib
import json
import os
import platform
import sys


def _cpu_model() -> str:
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or 'unknown'


def environment() -> dict:
  """Device, host, versions and time of this run."""
  import jax  # pylint: disable=g-import-not-at-top
  import flax  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  return {
      'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      'device': f'{jax.device_count()} x {device.device_kind} ({device.platform})',
      'host_cpu': f'{_cpu_model()}, {os.cpu_count()} cores',
      'python': platform.python_version(),
      'jax': jax.__version__, 'flax': flax.__version__, 'optax': optax.__version__,
      'command': ' '.join([os.path.basename(sys.executable)] + sys.argv),
      'GLIBC_TUNABLES': os.environ.get('GLIBC_TUNABLES', ''),  # colorjax.host_memory
  }


def write(path: str, environment_info: dict, rows: list[dict]) -> None:
  """Writes {'environment', 'rows'} as JSON, creating the folder."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  with open(path, 'w') as f:
    json.dump({'environment': environment_info, 'rows': rows}, f, indent=2)


def markdown(rows: list[dict], columns: list[str]) -> str:
  """A markdown table of rows."""
  def fmt(v):
    if not isinstance(v, float):
      return str(v)
    return f'{v:,.0f}' if abs(v) >= 100 else f'{v:.3g}'

  lines = ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
  lines += ['| ' + ' | '.join(fmt(r.get(c, '')) for c in columns) + ' |' for r in rows]
  return '\n'.join(lines)


def case_config(name: str, size: int, batch: int):
  """A benchmark case's training config: configs/default.py with the network
  `name` ('cnn', 'unet' or 'encoder_unet', each at its default size), or
  configs/<name>.py;
  at `size` x `size` crops, `batch` images a step, float32."""
  from configs import default  # pylint: disable=g-import-not-at-top
  if name in ('cnn', 'unet', 'encoder_unet'):
    config = default.get_config()
    config.model.name = name
  else:
    config = importlib.import_module(f'configs.{name}').get_config()
  config.data.image_size = size
  config.global_batch_size = batch
  config.num_train_steps = 1_000_000
  return config


def train_step_case(config, size: int, batch: int):
  """(step, state, batch, key): colorjax's jitted train step for `config` on
  all local devices, its initial state and one random uint8 batch, ready to
  time or profile."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from colorjax import parallel  # pylint: disable=g-import-not-at-top
  from colorjax import tasks  # pylint: disable=g-import-not-at-top
  from colorjax import train  # pylint: disable=g-import-not-at-top
  mesh = parallel.make_mesh()
  model = train.create_model(config, axis_name=parallel.AXIS)
  task = tasks.of(config)
  state = jax.jit(lambda k: task.create_state(config, k, model))(jax.random.key(0))
  step = train.make_train_step(mesh, config)
  rgb = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
  return step, state, parallel.shard_batch(mesh, {'rgb': rgb}), jax.random.key(1)


# ------------------------------------------- a colorjax.serve on loopback --

def start_server(flags_: list[str], checkpoint: str = '') -> tuple[object, str]:
  """`python -m colorjax.serve` on a free port of 127.0.0.1, answering
  /healthz: (the process, its base URL). Raises RuntimeError if it exits."""
  import socket  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  import urllib.request  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  command = [sys.executable, '-m', 'colorjax.serve', '--host=127.0.0.1', f'--port={port}',
             *flags_, *([f'--checkpoint={checkpoint}'] if checkpoint else [])]
  server = subprocess.Popen(command, cwd=os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  base = f'http://127.0.0.1:{port}'
  for _ in range(1_500):
    if server.poll() is not None:
      raise RuntimeError(f'colorjax.serve exited with {server.returncode}')
    try:
      urllib.request.urlopen(base + '/healthz', timeout=1)
      return server, base
    except OSError:
      time.sleep(0.2)
  server.terminate()
  raise RuntimeError('colorjax.serve did not answer /healthz within 5 minutes')


def multipart(data: bytes, filename: str = 'photo.png', fields: dict | None = None):
  """(body, content type) of a form posting `data` as its "image" file."""
  import uuid  # pylint: disable=g-import-not-at-top
  boundary = uuid.uuid4().hex
  parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
           for k, v in (fields or {}).items()]
  parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
                f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                ).encode() + data + f'\r\n--{boundary}--\r\n'.encode())
  return b''.join(parts), f'multipart/form-data; boundary={boundary}'

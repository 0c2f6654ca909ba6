"""Benchmarks the web app under concurrent requests, on loopback.

  python benchmarks/serve.py                     # the bundled model
  python benchmarks/serve.py --checkpoint=RUN_DIR --requests=40 --clients=1,4,8

Starts `python -m colorjax.serve` on a free local port, posts the same photo
(--width x --height, PNG) --requests times from each number of concurrent
clients, and reports requests/s and latency percentiles. Bounded in count
and time; only 127.0.0.1 is contacted. Writes JSON with the machine,
versions and date.
"""

import concurrent.futures
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

from absl import app
from absl import flags
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # pylint: disable=wrong-import-position

_CHECKPOINT = flags.DEFINE_string('checkpoint', None, 'Model; default: the bundled one.')
_REQUESTS = flags.DEFINE_integer('requests', 40, 'Requests per concurrency level.')
_CLIENTS = flags.DEFINE_string('clients', '1,4,8', 'Concurrency levels.')
_WIDTH = flags.DEFINE_integer('width', 768, 'Photo width.')
_HEIGHT = flags.DEFINE_integer('height', 512, 'Photo height.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/serve.json', 'JSON output.')


def _multipart(data: bytes):
  boundary = uuid.uuid4().hex
  body = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
          f'filename="photo.png"\r\nContent-Type: image/png\r\n\r\n').encode() + data + \
      f'\r\n--{boundary}--\r\n'.encode()
  return body, f'multipart/form-data; boundary={boundary}'


def _post(url, body, content_type) -> float:
  start = time.perf_counter()
  request = urllib.request.Request(url, data=body, headers={'Content-Type': content_type})
  with urllib.request.urlopen(request, timeout=120) as response:
    assert response.status == 200
    response.read()
  return time.perf_counter() - start


def main(argv):
  del argv
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  command = [sys.executable, '-m', 'colorjax.serve', f'--port={port}']
  if _CHECKPOINT.value:
    command.append(f'--checkpoint={_CHECKPOINT.value}')
  server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
  base = f'http://127.0.0.1:{port}'
  try:
    for _ in range(600):
      try:
        urllib.request.urlopen(base + '/healthz', timeout=1)
        break
      except OSError:
        time.sleep(0.2)
    rgb = np.random.default_rng(0).integers(0, 256, (_HEIGHT.value, _WIDTH.value, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, 'PNG')
    body, content_type = _multipart(buffer.getvalue())
    _post(base + '/colorize', body, content_type)  # Compiles this size's buckets.
    rows = []
    for clients in (int(c) for c in _CLIENTS.value.split(',')):
      start = time.perf_counter()
      with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(lambda _: _post(base + '/colorize', body, content_type),
                                  range(_REQUESTS.value)))
      seconds = time.perf_counter() - start
      rows.append({'clients': clients, 'requests': _REQUESTS.value,
                   'requests/s': _REQUESTS.value / seconds,
                   'latency p50 s': float(np.percentile(latencies, 50)),
                   'latency p95 s': float(np.percentile(latencies, 95))})
      print(common.markdown(rows[-1:], list(rows[-1])), flush=True)
  finally:
    server.terminate()
    server.wait(timeout=30)
  environment = common.environment()
  environment.update(photo=f'{_WIDTH.value}x{_HEIGHT.value} PNG',
                     model=_CHECKPOINT.value or 'bundled (colorjax/pretrained)')
  common.write(_OUT.value, environment, rows)
  print(environment)
  print(common.markdown(rows, list(rows[0])))


if __name__ == '__main__':
  app.run(main)

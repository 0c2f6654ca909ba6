"""Benchmarks the web app under load, on loopback.

  python benchmarks/serve.py                     # the bundled model, 1/4/16/64 clients
  python benchmarks/serve.py --checkpoint=RUN_DIR --clients=1,4 --seconds=10 \
      --server_flags=--max_concurrent=2,--queue=8

Starts `python -m colorjax.serve` on a free local port and, for each number
of concurrent clients, lets each client post the same photo (--width x
--height; --format, --pattern) back to back for --seconds (at most --max_requests each).
After a 503 a client waits as its Retry-After says (--noretry_after: not at
all, the harshest load). Reports the answered requests' throughput and p50 / p95 / p99 latency, the
p99 and slowest 503, the count of each status (and of connection errors), and the
server's peak RSS during that level. Bounded in count and time; only
127.0.0.1 is contacted. Writes JSON with the machine, versions and date.
"""

import collections
import concurrent.futures
import io
import os
import sys
import threading
import time
import urllib.error
import urllib.request

from absl import app
from absl import flags
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # pylint: disable=wrong-import-position

_CHECKPOINT = flags.DEFINE_string('checkpoint', None, 'Model; default: the bundled one.')
_CLIENTS = flags.DEFINE_string('clients', '1,4,16,64', 'Concurrency levels.')
_SECONDS = flags.DEFINE_float('seconds', 30, 'Seconds of load per concurrency level.')
_MAX_REQUESTS = flags.DEFINE_integer('max_requests', 1_000, 'Most requests per client and level.')
_WIDTH = flags.DEFINE_integer('width', 1024, 'Photo width.')
_HEIGHT = flags.DEFINE_integer('height', 768, 'Photo height.')
_FORMAT = flags.DEFINE_enum('format', 'png', ['png', 'jpeg'], 'Photo file format.')
_PATTERN = flags.DEFINE_enum('pattern', 'noise', ['noise', 'smooth'],
                             'noise: random pixels (the largest file); smooth: a random 64x48 '
                             'image enlarged (a photo-like file size, e.g. a 50 MP upload '
                             'under the 20 MB limit).')
_RETRY_AFTER = flags.DEFINE_bool('retry_after', True, 'Clients wait as a 503 tells them '
                                  '(Retry-After) before posting again; false: at once.')
_SERVER_FLAGS = flags.DEFINE_list('server_flags', [], 'Flags for colorjax.serve.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/serve.json', 'JSON output.')


def _post(url, body, content_type) -> tuple[int | str, float, float]:
  """(status or the connection error's name, seconds, Retry-After seconds or 0)."""
  start = time.perf_counter()
  request = urllib.request.Request(url, data=body, headers={'Content-Type': content_type})
  retry = 0.0
  try:
    with urllib.request.urlopen(request, timeout=120) as response:
      response.read()
      status = response.status
  except urllib.error.HTTPError as e:
    e.read()
    status, retry = e.code, float(e.headers.get('Retry-After') or 0)
  except OSError as e:
    status = type(e).__name__
  return status, time.perf_counter() - start, retry


def _rss_gib(pid: int) -> float:
  with open(f'/proc/{pid}/status') as f:
    kib = next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))
  return kib / 2**20


def _level(url, body, content_type, clients: int, pid: int) -> dict:
  """One concurrency level: every client posts until the deadline."""
  deadline = time.perf_counter() + _SECONDS.value
  peak, stop = [_rss_gib(pid)], threading.Event()

  def watch():
    while not stop.wait(0.1):
      peak[0] = max(peak[0], _rss_gib(pid))

  def client(_):
    results = []
    while time.perf_counter() < deadline and len(results) < _MAX_REQUESTS.value:
      status, seconds, retry = _post(url, body, content_type)
      results.append((status, seconds))
      if retry and _RETRY_AFTER.value:  # A polite client waits as told.
        time.sleep(max(0.0, min(retry, deadline - time.perf_counter())))
    return results

  watcher = threading.Thread(target=watch, daemon=True)
  watcher.start()
  start = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(clients) as pool:
    results = [r for rs in pool.map(client, range(clients)) for r in rs]
  seconds = time.perf_counter() - start
  stop.set()
  watcher.join()
  answered = [t for status, t in results if status == 200]
  refused = [t for status, t in results if status == 503]
  pct = lambda xs, q: float(np.percentile(xs, q)) if xs else None
  return {'clients': clients, 'seconds': round(seconds, 1),
          'answered/s': len(answered) / seconds,
          'p50 s': pct(answered, 50), 'p95 s': pct(answered, 95), 'p99 s': pct(answered, 99),
          'p99 503 s': pct(refused, 99), 'slowest 503 s': max(refused) if refused else None,
          'statuses': dict(sorted(collections.Counter(str(s) for s, _ in results).items())),
          'peak RSS GiB': round(peak[0], 2)}


def main(argv):
  del argv
  # The clients are threads of this one process: with Python's default 5 ms
  # GIL turns, an answer that has arrived would wait for its thread's turn and
  # be timed late; separate clients would not wait so.
  sys.setswitchinterval(0.001)
  server, base = common.start_server(_SERVER_FLAGS.value, _CHECKPOINT.value)
  try:
    rng = np.random.default_rng(0)
    if _PATTERN.value == 'noise':
      photo = Image.fromarray(rng.integers(0, 256, (_HEIGHT.value, _WIDTH.value, 3), np.uint8))
    else:
      photo = Image.fromarray(rng.integers(0, 256, (48, 64, 3), np.uint8)).resize(
          (_WIDTH.value, _HEIGHT.value), Image.BICUBIC)
    buffer = io.BytesIO()
    photo.save(buffer, _FORMAT.value.upper(), **({'quality': 90} if _FORMAT.value == 'jpeg' else {}))
    body, content_type = common.multipart(buffer.getvalue(), f'photo.{_FORMAT.value}')
    _post(base + '/colorize', body, content_type)  # Compiles this size's buckets.
    rows = []
    for clients in (int(c) for c in _CLIENTS.value.split(',')):
      rows.append(_level(base + '/colorize', body, content_type, clients, server.pid))
      print(common.markdown(rows[-1:], list(rows[-1])), flush=True)
  finally:
    server.terminate()
    server.wait(timeout=60)
  environment = common.environment()
  environment.update(photo=f'{_WIDTH.value}x{_HEIGHT.value} {_FORMAT.value} ({_PATTERN.value}, '
                           f'{len(buffer.getvalue()) / 1e6:.1f} MB)',
                     server_flags=_SERVER_FLAGS.value,
                     retry_after=_RETRY_AFTER.value,
                     model=_CHECKPOINT.value or 'bundled (colorjax/pretrained)')
  common.write(_OUT.value, environment, rows)
  print(environment)
  print(common.markdown(rows, list(rows[0])))


if __name__ == '__main__':
  app.run(main)

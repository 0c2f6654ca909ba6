"""The web app: upload a photo, get it back colorized (the seed's backend and page).

  python -m colorjax.serve --checkpoint=RUN_DIR --port=8000
  python -m colorjax.serve    # the bundled models: automatic, and with hints

Without --checkpoint it serves both bundled models: requests without hints go
to the automatic one, requests with a `hints` field to the hint-conditioned one.

Endpoints:
  GET  /          one page: pick or drop a photo, see original | grayscale |
                  colorized, choose the working resolution, download; with a
                  hint-conditioned model, place colour hints on the result.
  POST /colorize  multipart field `image` -> image/png; JPEG with
                  `Accept: image/jpeg` or a `format=jpeg` field; optional
                  `resolution` field (pixels or "native") and, for a
                  hint-conditioned model, `hints`: JSON
                  [{"x": 120, "y": 80, "rgb": [200, 30, 30]}, ...] in the
                  photo's pixels (`colorjax.hints`).
  GET  /healthz   model, checkpoint step, default resolution, whether it takes hints.

Errors are JSON {"error": "..."}: 400 missing field or bad value, 413 upload
or pixel count over the limit (judged from the header, before decoding), 415
not an image, 503 with Retry-After when the server is full or shutting down.
Uploads are decoded in memory and never written to disk. The model loads and
compiles once at start and is shared by every request.

Load: at most --max_concurrent colorizations run at once and at most --queue
requests wait for one; a request beyond that gets 503 with Retry-After at
once, and one that waits longer than --request_timeout seconds gets 503
(the colorization itself, bounded by the working resolution, is not cut).
The app runs in waitress, a production WSGI server (pure Python, from PyPI),
with enough threads that every request reaches this admission at once
(64 beyond those it admits, so that a crowd's refusals are not queued
behind each other). The default queue of 4 bounds the wait: with 2 CPU
cores colorizing about 2.9 photos of 1024x768 a second, a request at the
back of a queue of 8 waited 3.6 s at the median (RESULTS.md).
SIGTERM stops taking requests (new ones get 503 while the in-flight ones
finish), then exits 0. --debug serves with werkzeug's development server.
Flask and waitress are needed here only; the training code never imports
this module.
"""

import contextlib
import json
import math
import os
import secrets
import signal
import sys
import threading
import time
import types

from absl import flags
from absl import logging
import flask
import numpy as np
from werkzeug import exceptions
from werkzeug import serving

from colorjax import checkpoint
from colorjax import colorize
from colorjax import command
from colorjax import hints
from colorjax import images
from colorjax import inference
from colorjax.errors import DataError

_PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'web', 'index.html')
_MIMETYPES = {'png': 'image/png', 'jpeg': 'image/jpeg'}


def _error(status: int, message: str):
  return flask.jsonify(error=message), status


def _output_format(request) -> str:
  requested = request.form.get('format', '').lower()
  if requested:
    if requested not in ('png', 'jpeg', 'jpg'):
      raise exceptions.BadRequest(f'format must be png or jpeg, not {requested!r}.')
    return 'jpeg' if requested in ('jpeg', 'jpg') else 'png'
  best = request.accept_mimetypes.best_match(['image/png', 'image/jpeg'], 'image/png')
  return 'jpeg' if best == 'image/jpeg' else 'png'


class Busy(Exception):
  """A request the server cannot take now: 503 with Retry-After."""

  def __init__(self, message: str, retry_after: int):
    super().__init__(message)
    self.retry_after = retry_after


class Admission:
  """At most `running` colorizations at once and `queue` requests waiting for
  one; anything beyond is refused at once (`Busy`), and so is a request that
  waits longer than `timeout` seconds, or any request once `drain` is called."""

  def __init__(self, running: int, queue: int, timeout: float):
    if running < 1 or queue < 0 or not timeout > 0:
      raise ValueError('Serve with --max_concurrent of 1 or more, --queue of 0 or more '
                       f'and a positive --request_timeout, not {running}, {queue}, {timeout}.')
    self.capacity, self.queue, self.timeout = running, queue, timeout
    self.slots = threading.Semaphore(running)
    self.lock = threading.Lock()
    self.running = self.waiting = 0
    self.draining = False
    self.seconds = 1.0  # Running mean of a colorization's time, for Retry-After.
    self.reserved = {}  # Token -> time: places held from a request's headers (`reserve`).

  def retry_after(self) -> int:
    """Seconds until a place is likely free: the queue's work over the slots."""
    return max(1, math.ceil((self.waiting + 1) * self.seconds / self.capacity))

  def _refusal(self) -> Busy | None:
    """Why a new request would be refused now (the caller holds the lock)."""
    stale = time.monotonic() - 2 * self.timeout
    for token in [t for t, since in self.reserved.items() if since < stale]:
      self._release(token)  # Held by an upload that never reached the app.
    if self.draining:
      return Busy('The server is shutting down; send the photo again in a moment.',
                  self.retry_after())
    if self.waiting + self.running >= self.capacity + self.queue:
      return Busy(f'The server is busy ({self.running} colorizing, {self.waiting} '
                  'waiting); send the photo again later.', self.retry_after())
    return None

  def reserve(self) -> tuple[str | None, Busy | None]:
    """At a request's headers, before its body: (a token holding its place
    in the queue until `slot(token)` takes it or `release(token)` frees it,
    None), or (None, the `Busy` it gets now)."""
    with self.lock:
      refused = self._refusal()
      if refused:
        return None, refused
      self.waiting += 1
      token = secrets.token_hex(16)
      self.reserved[token] = time.monotonic()
      return token, None

  def _release(self, token) -> bool:
    if self.reserved.pop(token, None) is None:
      return False
    self.waiting -= 1
    return True

  def release(self, token: str) -> None:
    """Frees a place `reserve` held (an upload that will not reach the app)."""
    with self.lock:
      self._release(token)

  @contextlib.contextmanager
  def slot(self, token: str | None = None):
    """Holds a place in the queue (the one `reserve` gave `token`, if it is
    still held), then a colorization slot, for the block."""
    with self.lock:
      held = token is not None and self._release(token)
      refused = self._refusal() if not held or self.draining else None
      if refused:
        raise refused
      self.waiting += 1
    got = self.slots.acquire(timeout=self.timeout)
    with self.lock:
      self.waiting -= 1
      if got:
        self.running += 1
    if not got:
      raise Busy(f'The photo waited more than {self.timeout:g} s for the model; send it '
                 'again later.', self.retry_after())
    start = time.perf_counter()
    try:
      yield
    finally:
      with self.lock:
        self.running -= 1
        self.seconds = 0.8 * self.seconds + 0.2 * (time.perf_counter() - start)
      self.slots.release()

  def idle(self) -> bool:
    with self.lock:
      return self.running == self.waiting == 0

  def drain(self) -> None:
    with self.lock:
      self.draining = True

  def status(self) -> dict:
    with self.lock:
      return {'running': self.running, 'waiting': self.waiting,
              'max_concurrent': self.capacity, 'queue': self.queue,
              'draining': self.draining}


def create_app(colorizer: colorize.Colorizer, info: dict, *,
               default_resolution, max_upload_mb: float = 20,
               max_megapixels: float = 50, max_output_megapixels: float = 12,
               max_concurrent: int = 2, queue: int = 4,
               request_timeout: float = 30.0,
               hint_colorizer: colorize.Colorizer | None = None) -> flask.Flask:
  """The Flask app around a loaded model.

  Args:
    colorizer: the model, compiled per shape bucket.
    info: the checkpoint's info from `inference.load_model`.
    hint_colorizer: a hint-conditioned model for requests with a `hints`
      field (None: `colorizer` takes them, if it reads hints).
    default_resolution: working resolution when a request names none.
    max_upload_mb: larger uploads get 413 before they are read.
    max_megapixels: larger images get 413 before they are decoded.
    max_output_megapixels: larger images are decoded reduced by an integer
      factor to at most this size (a JPEG by its decoder, so its full-size
      pixels are never held) and answered at that size, with the factor in
      the X-Colorjax-Reduced-By header: a request's memory and time are
      bounded by this, not by the upload.
    max_concurrent: colorizations at once (bounds memory and time).
    queue: requests that may wait for one; more get 503 at once.
    request_timeout: seconds a request may wait; then 503.

  The app's `admission` attribute (`Admission`) is what `serve_forever`
  drains on SIGTERM.
  """
  server = flask.Flask(__name__)
  server.config['MAX_CONTENT_LENGTH'] = int(max_upload_mb * 1e6)
  admission = server.admission = Admission(max_concurrent, queue, request_timeout)
  model_name = info['config']['model']['name']
  if hint_colorizer is None and colorizer.hinted:
    hint_colorizer = colorizer

  @server.errorhandler(exceptions.HTTPException)
  def http_error(error):
    if isinstance(error, exceptions.RequestEntityTooLarge):
      return _error(413, f'The upload is larger than the limit of {max_upload_mb:g} MB.')
    return _error(error.code, error.description)

  @server.get('/')
  def page():
    return flask.send_file(_PAGE, mimetype='text/html')

  @server.errorhandler(Busy)
  def busy(error):
    response = flask.jsonify(error=str(error))
    response.headers['Retry-After'] = str(error.retry_after)
    return response, 503

  @server.get('/healthz')
  def healthz():
    load = admission.status()
    return flask.jsonify(status='draining' if load['draining'] else 'ok', model=model_name,
                         step=info['step'], checkpoint=info['path'],
                         resolution=default_resolution, hints=hint_colorizer is not None,
                         load=load)

  @server.post('/colorize')
  def colorize_upload():
    with admission.slot(flask.request.headers.get(ADMISSION_HEADER)):
      return _colorize(flask.request)

  def _colorize(request):
    upload = request.files.get('image')
    if upload is None:
      return _error(400, 'Send the photo as the multipart form field "image".')
    resolution = request.form.get('resolution') or default_resolution
    try:
      resolution = colorize.parse_resolution(resolution)
    except ValueError as e:
      return _error(400, str(e))
    fmt = _output_format(request)
    points, model = None, colorizer
    if request.form.get('hints'):
      if hint_colorizer is None:
        return _error(400, 'This model was not trained with colour hints; send no "hints" field.')
      try:
        points = hints.parse(json.loads(request.form['hints']), 'The "hints" field')
      except (ValueError, json.JSONDecodeError) as e:
        return _error(400, str(e))
      model = hint_colorizer
    try:
      data = upload.read()
      rgb, alpha = images.read_image(data, max_pixels=int(max_megapixels * 1e6),
                                     reduce_to_pixels=int(max_output_megapixels * 1e6))
    except images.ImageTooLarge as e:
      return _error(413, f'The image is too large: {e}.')
    except DataError as e:
      return _error(415, f'The upload is {e}; send a JPEG, PNG, WebP, BMP, TIFF or GIF photo.')
    try:
      out = model.colorize(rgb, resolution, hints=points)
    except ValueError as e:  # A hint outside the photo, a bad colour.
      return _error(400, str(e))
    response = flask.Response(images.encode(out, alpha, fmt), mimetype=_MIMETYPES[fmt])
    declared = images.declared_size(data)
    if declared and declared[0] * declared[1] > out.shape[0] * out.shape[1]:
      response.headers['X-Colorjax-Reduced-By'] = str(images.reduction_factor(
          *declared, int(max_output_megapixels * 1e6)))
    return response

  return server


# waitress reads 8 KiB a call by default: a 2.4 MB upload is 300 turns of its
# single I/O thread, which every other connection waits behind.
_RECV_BYTES = 256 * 1024
# A refused upload's body is read to its end at once (up to this much a call):
# each turn it waited for would delay the 503 its client reads after sending.
_DISCARD_BYTES = 1024 * 1024
_SWITCH_SECONDS = 0.001


# The header by which a request admitted at its headers reaches the app
# (waitress's name for it in the request it parsed; a client cannot guess a
# token, and a wrong one is only a request that was not admitted early).
ADMISSION_HEADER = 'X-Colorjax-Admission'
_ADMISSION_KEY = ADMISSION_HEADER.upper().replace('-', '_')


def _refusing_channel(channel_class, admission: Admission):
  """waitress's connection class, admitting or refusing a POST as soon as
  its headers are read, before its body.

  waitress hands a request to the app only once its whole body has arrived,
  so under load a refusal would otherwise wait its turn behind every upload
  in flight, and a request let in while there was room would find the queue
  taken by the time its upload was complete. Here the admission decides at
  the headers: a place is held for the upload (`Admission.reserve`, freed if
  the connection closes first), or the 503 (with Retry-After, and
  Connection: close) is queued at once and the rest of the body is read and
  dropped unbuffered, so the client can finish sending and read the answer
  (closing with its bytes unread would reset the connection under it).
  """

  class RefusingChannel(channel_class):
    """A waitress channel that admits or refuses uploads from their headers."""
    discarding = 0  # Body bytes of a refused request still to read and drop.

    def handle_close(self):
      token = getattr(self.request, 'colorjax_token', None)
      if token:  # An upload cut short: its place goes back.
        admission.release(token)
      super().handle_close()

    def handle_read(self):
      if not self.discarding:
        return super().handle_read()
      try:  # A refused body: read it to its end, or until the socket has no more.
        while self.discarding:
          data = self.recv(min(self.discarding, _DISCARD_BYTES))
          if not data:
            break
          self.last_activity = time.time()
          self.received(data)
      except BlockingIOError:
        pass
      except OSError:
        self.handle_close()
      return None

    def received(self, data):
      if self.discarding:
        dropped = min(self.discarding, len(data))
        self.discarding -= dropped
        if not self.discarding:
          self.close_when_flushed = True
        return True
      if self.close_when_flushed or self.will_close:
        return super().received(data)
      result = super().received(data)
      request = self.request
      if (request is None or not request.headers_finished or request.completed
          or request.command != 'POST' or self.requests
          or hasattr(request, 'colorjax_token')):
        return result
      token, refused = admission.reserve()
      request.colorjax_token = token
      if refused is None:
        request.headers[_ADMISSION_KEY] = token
        return result
      body = json.dumps({'error': str(refused)}).encode()
      head = ('HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n'
              f'Content-Length: {len(body)}\r\nRetry-After: {refused.retry_after}\r\n'
              'Connection: close\r\nServer: colorjax\r\n\r\n').encode()
      with self.outbuf_lock:
        self.outbufs[-1].append(head + body)
        self.current_outbuf_count += len(head) + len(body)
        self.total_outbufs_len += len(head) + len(body)
      self.request = None  # Its buffered part of the body goes with it.
      if request.chunked:  # No length to read to: close once the answer is out.
        self.close_when_flushed = True
      else:
        self.discarding = request.content_length - request.body_bytes_received
        if not self.discarding:
          self.close_when_flushed = True
      return result

  return RefusingChannel


def serve_forever(app: flask.Flask, host: str, port: int, *, threads: int | None = None,
                  drain_seconds: float = 60.0) -> None:
  """Serves `app` (from `create_app`) with waitress until SIGTERM or Ctrl-C.

  waitress gets enough threads (default: the app's colorization slots and
  queue, plus 64 for the page, /healthz and the requests to refuse) that
  every request reaches the app's admission at once instead of waiting
  unseen in waitress's own queue, where a 503 would come late.
  On SIGTERM the listening socket closes and the app refuses new requests
  (503); once those in flight have finished and been sent (at most
  drain_seconds), every connection closes and this returns.
  """
  import waitress  # pylint: disable=g-import-not-at-top  # Serving only.
  from waitress import wasyncore  # pylint: disable=g-import-not-at-top
  admission = app.admission
  threads = threads or admission.capacity + admission.queue + 64
  server = waitress.create_server(app, host=host, port=port, threads=threads,
                                  connection_limit=max(100, 2 * threads), ident='colorjax',
                                  recv_bytes=_RECV_BYTES)
  server.channel_class = _refusing_channel(server.channel_class, admission)
  # waitress's one I/O thread shares the GIL with the workers (decoding,
  # encoding); Python's default 5 ms turns would make each of its wake-ups
  # wait behind them, and a refusal with it.
  switch = sys.getswitchinterval()
  sys.setswitchinterval(_SWITCH_SECONDS)

  def sending() -> bool:  # A response still being written to its client.
    return any(getattr(c, 'requests', None) or getattr(c, 'total_outbufs_len', 0)
               for c in list(server._map.values()))  # pylint: disable=protected-access

  def finish():
    deadline = time.time() + drain_seconds
    while (not admission.idle() or sending()) and time.time() < deadline:
      time.sleep(0.05)
    # Closing every connection (in the loop's thread) empties the event loop's
    # map, and the loop, so `server.run` returns.
    server.trigger.pull_trigger(
        lambda: wasyncore.close_all(server._map, ignore_all=True))  # pylint: disable=protected-access

  def on_sigterm(signum, frame):
    del signum, frame
    logging.info('SIGTERM: finishing %d request(s) in flight, taking no new ones.',
                 admission.status()['running'] + admission.status()['waiting'])
    admission.drain()
    server.accepting = False  # Not polled for connections from now on...
    # ...and closed in the event loop's own thread (closing it here, inside
    # the loop's select, would leave it a dead descriptor); open connections stay.
    server.trigger.pull_trigger(lambda: wasyncore.dispatcher.close(server))
    threading.Thread(target=finish, daemon=True).start()

  previous = signal.signal(signal.SIGTERM, on_sigterm)
  try:
    server.run()  # Returns once `finish` has closed everything, or on Ctrl-C.
  finally:
    signal.signal(signal.SIGTERM, previous)
    sys.setswitchinterval(switch)
    server.task_dispatcher.shutdown(timeout=5)
  logging.info('Stopped.')


def warm_up(colorizer: colorize.Colorizer, resolution) -> None:
  """Compiles the shape buckets of a typical 4:3 photo before the first request."""
  colorizer.colorize(np.zeros((480, 640, 3), np.uint8), resolution)


def _define_flags():
  """The command's flags; defined only when this module runs as the program."""
  return types.SimpleNamespace(
      checkpoint=flags.DEFINE_string(
          'checkpoint', None, 'Run directory or step directory of the model; '
          'default: the bundled models (automatic, and with hints).'),
      host=flags.DEFINE_string(
          'host', '127.0.0.1', 'Address to listen on; 0.0.0.0 to serve the network.'),
      port=flags.DEFINE_integer('port', 8000, 'Port to listen on.'),
      resolution=flags.DEFINE_string(
          'resolution', 'auto', 'Default working resolution: pixels, "native", '
          'or auto (the scale the model trained at).'),
      max_upload_mb=flags.DEFINE_float('max_upload_mb', 20, 'Largest upload, MB.'),
      max_megapixels=flags.DEFINE_float('max_megapixels', 50, 'Largest image, megapixels.'),
      max_output_megapixels=flags.DEFINE_float(
          'max_output_megapixels', 12, 'Larger images are decoded reduced by an integer '
          'factor to at most this size and answered at it.'),
      max_concurrent=flags.DEFINE_integer('max_concurrent', 2, 'Colorizations at once.'),
      queue=flags.DEFINE_integer('queue', 4, 'Requests that may wait for a colorization; '
                                 'more get 503 with Retry-After at once.'),
      request_timeout=flags.DEFINE_float('request_timeout', 30, 'Seconds a request may wait '
                                         'for a colorization before it gets 503.'),
      threads=flags.DEFINE_integer('threads', 0, "waitress's worker threads (0: "
                                   'max_concurrent + queue + 64).'),
      debug=flags.DEFINE_bool('debug', False, "Serve with werkzeug's development server "
                              'instead of waitress (reloads nothing; for debugging only).'))


def main(argv, args):
  model, variables, info = inference.load_model(checkpoint.resolve(args.checkpoint.value))
  resolution = colorize.parse_resolution(args.resolution.value, info['config'])
  colorizer = colorize.Colorizer(model, variables)
  warm_up(colorizer, resolution)
  hint_colorizer = None
  if not args.checkpoint.value and os.path.isdir(checkpoint.PRETRAINED_HINTS):
    hint_colorizer = colorize.Colorizer(*inference.load_model(checkpoint.PRETRAINED_HINTS)[:2])
    warm_up(hint_colorizer, resolution)
    logging.info('Requests with hints go to %s.', checkpoint.PRETRAINED_HINTS)
  server = create_app(colorizer, info, default_resolution=resolution,
                      max_upload_mb=args.max_upload_mb.value,
                      max_megapixels=args.max_megapixels.value,
                      max_output_megapixels=args.max_output_megapixels.value,
                      max_concurrent=args.max_concurrent.value, queue=args.queue.value,
                      request_timeout=args.request_timeout.value,
                      hint_colorizer=hint_colorizer)
  logging.info('Serving %s (step %d) on http://%s:%d/', info['path'], info['step'],
               args.host.value, args.port.value)
  if args.debug.value:
    serving.run_simple(args.host.value, args.port.value, server, threaded=True)
  else:
    serve_forever(server, args.host.value, args.port.value, threads=args.threads.value or None)


def cli():
  """`colorjax-serve` (installed with the package): the same as `python -m colorjax.serve`."""
  command.run(__name__, main, _define_flags)


if __name__ == '__main__':
  cli()

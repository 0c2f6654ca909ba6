"""The web app through Flask's test client, and through a real browser."""

import concurrent.futures
import io
import json
import os
import signal
import threading
import time
import urllib.request

import numpy as np
from PIL import Image
import pytest

from colorjax import colorize
from colorjax import inference
from colorjax import serve
from tests.conftest import CHROMIUM
from tests.conftest import CHROMIUM_ARGS
from tests.conftest import photo_crops
from tests.conftest import serving


def _png(array) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, 'PNG')
  return buffer.getvalue()


@pytest.fixture(scope='module')
def client(tiny_run):
  model, variables, info = inference.load_model(tiny_run)
  server = serve.create_app(colorize.Colorizer(model, variables), info,
                            default_resolution=32, max_upload_mb=1, max_megapixels=0.5)
  return server.test_client()


def _bomb() -> bytes:
  buffer = io.BytesIO()
  Image.new('1', (20_000, 20_000)).save(buffer, 'PNG')
  return buffer.getvalue()


def _post(client, data: bytes, **extra):
  headers = extra.pop('headers', {})
  return client.post('/colorize', data={'image': (io.BytesIO(data), 'photo.png'), **extra},
                     content_type='multipart/form-data', headers=headers)


def test_colorize_returns_a_png_of_the_upload_size(client):
  photo = photo_crops(1, 45, 61)[0]
  response = _post(client, _png(photo))
  assert response.status_code == 200 and response.mimetype == 'image/png'
  image = Image.open(io.BytesIO(response.data))
  assert image.format == 'PNG' and image.size == (61, 45)


def test_jpeg_by_accept_header_or_field(client):
  photo = _png(photo_crops(1, 32, 32)[0])
  by_header = _post(client, photo, headers={'Accept': 'image/jpeg'})
  by_field = _post(client, photo, format='jpeg')
  for response in (by_header, by_field):
    assert response.mimetype == 'image/jpeg'
    assert Image.open(io.BytesIO(response.data)).format == 'JPEG'


def test_resolution_field_changes_the_result(client):
  photo = _png(photo_crops(1, 96, 128)[0])
  low = _post(client, photo, resolution='32').data
  native = _post(client, photo, resolution='native').data
  assert low != native
  assert _post(client, photo, resolution='tiny').status_code == 400


def test_healthz_and_page(client):
  health = client.get('/healthz').get_json()
  assert health['status'] == 'ok' and health['model'] == 'unet' and health['step'] == 2
  page = client.get('/')
  assert page.status_code == 200 and b'<input id="file" type="file"' in page.data
  assert b'http://' not in page.data and b'https://' not in page.data  # No CDN.


@pytest.mark.parametrize('make,status,message', [
    (lambda c: c.post('/colorize', data={}, content_type='multipart/form-data'),
     400, 'multipart form field "image"'),
    (lambda c: _post(c, b'%PDF-1.4 not an image'), 415, 'not an image'),
    (lambda c: _post(c, b'x' * 1_100_000), 413, 'larger than the limit of 1 MB'),
    (lambda c: _post(c, _png(np.zeros((1000, 1000, 3), np.uint8))), 413,
     '1.0 megapixels (1000x1000), more than the limit of 0.5'),
    # A 400-megapixel bomb of 48 kB: Pillow's own check refuses it at open.
    (lambda c: _post(c, _bomb()), 413, 'declares more than 179 megapixels'),
])
def test_errors_are_json_with_a_clear_message(client, make, status, message):
  response = make(client)
  assert response.status_code == status
  assert message in response.get_json()['error']


def test_concurrent_requests_each_get_their_own_image(client):
  photos = photo_crops(6, 40, 40)
  sizes = [(40 + 8 * i, 40) for i in range(6)]
  uploads = [_png(np.asarray(Image.fromarray(p).resize(s))) for p, s in zip(photos, sizes)]
  with concurrent.futures.ThreadPoolExecutor(6) as pool:
    responses = list(pool.map(lambda u: _post(client, u), uploads))
  for response, size in zip(responses, sizes):
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.data)).size == size


@pytest.fixture
def live_server(tiny_run):
  with serving(tiny_run) as url:
    yield url


@pytest.mark.skipif(CHROMIUM is None, reason='needs Debian chromium (.ci/run installs it)')
def test_page_in_a_real_browser(live_server, tmp_path):
  from playwright.sync_api import sync_playwright
  photo_path = tmp_path / 'photo.png'
  Image.fromarray(photo_crops(1, 60, 80)[0]).save(photo_path)
  with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page()
    page.goto(live_server + '/')
    page.wait_for_selector('text=step 2')  # /healthz answered.
    page.set_input_files('#file', str(photo_path))
    page.wait_for_function(
        "document.getElementById('colorized').naturalWidth > 0", timeout=60_000)
    assert page.evaluate("document.getElementById('colorized').naturalWidth") == 80
    assert page.evaluate("document.getElementById('gray').width") == 80
    page.screenshot(path=os.environ.get('COLORJAX_SCREENSHOT', str(tmp_path / 'page.png')))
    with page.expect_download() as download:
      page.click('#download')
    saved = tmp_path / 'download.png'
    download.value.save_as(saved)
    assert download.value.suggested_filename == 'photo_colorized.png'
    browser.close()
  result = Image.open(saved)
  assert result.format == 'PNG' and result.size == (80, 60)


class _HeldColorizer:
  """A stand-in model whose colorize waits until the test lets it go."""
  hinted = False

  def __init__(self):
    self.release, self.started = threading.Event(), threading.Semaphore(0)

  def colorize(self, rgb, resolution, hints=None):
    del resolution, hints
    self.started.release()
    assert self.release.wait(60)
    return rgb


def _held_app(**limits):
  model = _HeldColorizer()
  info = {'config': {'model': {'name': 'held'}}, 'step': 0, 'path': 'none'}
  app = serve.create_app(model, info, default_resolution=32, **limits)
  return model, app.test_client()


def test_beyond_the_queue_is_503_at_once_and_the_queue_is_served():
  model, client = _held_app(max_concurrent=1, queue=1)
  photo = _png(photo_crops(1, 24, 24)[0])
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    running = pool.submit(_post, client, photo)
    assert model.started.acquire(timeout=60)  # The first one is colorizing...
    waiting = pool.submit(_post, client, photo)
    while client.get('/healthz').get_json()['load']['waiting'] < 1:  # ...the second waits.
      assert not waiting.done(), waiting.result().get_json()
    refused = _post(client, photo)  # The third finds no place.
    assert refused.status_code == 503 and int(refused.headers['Retry-After']) >= 1
    assert 'busy (1 colorizing, 1 waiting)' in refused.get_json()['error']
    model.release.set()
    assert running.result().status_code == 200 and waiting.result().status_code == 200
  assert client.get('/healthz').get_json()['load'] == {
      'running': 0, 'waiting': 0, 'max_concurrent': 1, 'queue': 1, 'draining': False}


def test_a_request_that_waits_too_long_is_503_and_draining_refuses_new_ones():
  model, client = _held_app(max_concurrent=1, queue=4, request_timeout=0.2)
  photo = _png(photo_crops(1, 24, 24)[0])
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    running = pool.submit(_post, client, photo)
    assert model.started.acquire(timeout=60)
    late = _post(client, photo)
    assert late.status_code == 503 and 'waited more than 0.2 s' in late.get_json()['error']
    client.application.admission.drain()
    assert 'shutting down' in _post(client, photo).get_json()['error']
    assert client.get('/healthz').get_json()['status'] == 'draining'
    model.release.set()
    assert running.result().status_code == 200


def _waitress(app):
  """app in a waitress server with colorjax's connection class, on a free port."""
  import waitress  # pylint: disable=g-import-not-at-top
  server = waitress.create_server(app, host='127.0.0.1', port=0, threads=4)
  server.channel_class = serve._refusing_channel(server.channel_class, app.admission)  # pylint: disable=protected-access
  thread = threading.Thread(target=server.run, daemon=True)
  thread.start()
  server.stop = lambda: _stop(server, thread)
  return server, server.socket.getsockname()[1]


def _stop(server, thread):
  """Closes every connection from the server's own loop (closing them from
  here, inside its select, would fail there), which ends `server.run`."""
  from waitress import wasyncore  # pylint: disable=g-import-not-at-top
  server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map, ignore_all=True))  # pylint: disable=protected-access
  thread.join(30)
  server.task_dispatcher.shutdown(timeout=5)


def _start_upload(port: int, body: bytes, sent: int):
  """A raw connection that has sent a POST's headers and `sent` bytes of its body."""
  import socket  # pylint: disable=g-import-not-at-top
  sock = socket.create_connection(('127.0.0.1', port), timeout=60)
  sock.sendall(f'POST /colorize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; '
               f'boundary={_BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n'.encode()
               + body[:sent])
  return sock


def _post_to(port: int, body: bytes) -> int:
  request = urllib.request.Request(
      f'http://127.0.0.1:{port}/colorize', data=body,
      headers={'Content-Type': f'multipart/form-data; boundary={_BOUNDARY}'})
  try:
    return urllib.request.urlopen(request, timeout=60).status
  except urllib.error.HTTPError as e:
    return e.code


def _until(condition, seconds: float = 30):
  deadline = time.time() + seconds
  while not condition():
    assert time.time() < deadline, 'not within 30 s'
    time.sleep(0.01)


def _load(port: int) -> dict:
  return json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz'))['load']


def test_waitress_refuses_an_upload_from_its_headers_before_its_body():
  """While the admission is full, a POST gets its 503 as soon as its headers
  are in; the rest of the body is then read, dropped, and the connection closed."""
  model, client = _held_app(max_concurrent=1, queue=0)
  server, port = _waitress(client.application)
  photo = _png(photo_crops(1, 24, 24)[0])
  try:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
      running = pool.submit(_post_to, port, _multipart(photo))
      assert model.started.acquire(timeout=60)  # The one slot is taken.
      body = _multipart(photo) + b'x' * 3_000_000  # Declared whole, sent in part.
      with _start_upload(port, body, 1000) as sock:
        answer = sock.recv(65536).decode()  # Before the other 2.9 MB are sent.
        assert answer.startswith('HTTP/1.1 503'), answer
        assert 'Retry-After: ' in answer and 'busy (1 colorizing, 0 waiting)' in answer
        sock.sendall(body[1000:])  # Read and dropped; then the server closes.
        assert sock.recv(65536) == b''
      model.release.set()
      assert running.result() == 200
    assert _post_to(port, _multipart(photo)) == 200  # Nothing was left behind.
  finally:
    server.stop()


def test_an_upload_admitted_at_its_headers_holds_its_place_until_it_arrives_or_leaves():
  model, client = _held_app(max_concurrent=1, queue=1)
  server, port = _waitress(client.application)
  photo = _png(photo_crops(1, 24, 24)[0])
  body = _multipart(photo)
  try:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
      running = pool.submit(_post_to, port, body)
      assert model.started.acquire(timeout=60)
      slow = _start_upload(port, body, 100)  # Let in at its headers, still uploading...
      _until(lambda: _load(port)['waiting'] == 1)
      with _start_upload(port, body, 100) as late:  # ...so the next one finds no place.
        assert late.recv(65536).decode().startswith('HTTP/1.1 503')
      slow.close()  # Gone before its upload was complete: its place goes back.
      _until(lambda: _load(port)['waiting'] == 0)
      with _start_upload(port, body, 100) as again:  # Let in, and answered once it is all sent.
        again.sendall(body[100:])
        model.release.set()
        assert again.recv(65536).startswith(b'HTTP/1.1 200')
      assert running.result() == 200
    assert _load(port) == {'running': 0, 'waiting': 0, 'max_concurrent': 1, 'queue': 1,
                           'draining': False}
  finally:
    server.stop()


def test_sigterm_lets_the_request_in_flight_finish_then_exits(tiny_run):
  """The real command in waitress: a slow request (a large photo at native
  resolution, whose shape compiles first) is answered after SIGTERM, and the
  server then exits 0."""
  with serving(tiny_run) as url:
    process = serving.process
    photo = _png(np.asarray(Image.fromarray(photo_crops(1, 60, 80)[0]).resize((1600, 1200))))
    request = urllib.request.Request(
        url + '/colorize', data=_multipart(photo, resolution='native'),
        headers={'Content-Type': f'multipart/form-data; boundary={_BOUNDARY}'})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
      answer = pool.submit(lambda: urllib.request.urlopen(request, timeout=300))
      while json.load(urllib.request.urlopen(url + '/healthz'))['load']['running'] < 1:
        assert not answer.done(), 'the request finished before SIGTERM could be sent'
      process.send_signal(signal.SIGTERM)
      response = answer.result()
      assert response.status == 200
      assert Image.open(io.BytesIO(response.read())).size == (1600, 1200)
    assert process.wait(timeout=120) == 0
    output = process.stdout.read()
    assert 'SIGTERM: finishing 1 request(s) in flight' in output and 'Traceback' not in output


_BOUNDARY = 'colorjax-test-boundary'


def _multipart(photo: bytes, **fields) -> bytes:
  parts = [f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
           for k, v in fields.items()]
  parts.append(f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="image"; '
               'filename="photo.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
               + photo + b'\r\n')
  return b''.join(parts) + f'--{_BOUNDARY}--\r\n'.encode()

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
or pixel count over the limit, 415 not an image. Uploads are decoded in
memory and never written to disk. The model loads and compiles once at start.
Flask is needed here only; the training code never imports this module.
"""

import json
import os
import threading
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


def create_app(colorizer: colorize.Colorizer, info: dict, *,
               default_resolution, max_upload_mb: float = 20,
               max_megapixels: float = 50, max_concurrent: int = 2,
               hint_colorizer: colorize.Colorizer | None = None) -> flask.Flask:
  """The Flask app around a loaded model.

  Args:
    colorizer: the model, compiled per shape bucket.
    info: the checkpoint's info from `checkpoint.load_model`.
    hint_colorizer: a hint-conditioned model for requests with a `hints`
      field (None: `colorizer` takes them, if it reads hints).
    default_resolution: working resolution when a request names none.
    max_upload_mb: larger uploads get 413 before they are read.
    max_megapixels: larger images get 413 before they are decoded.
    max_concurrent: colorizations at once; more requests wait (bounds memory).
  """
  server = flask.Flask(__name__)
  server.config['MAX_CONTENT_LENGTH'] = int(max_upload_mb * 1e6)
  slots = threading.BoundedSemaphore(max_concurrent)
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

  @server.get('/healthz')
  def healthz():
    return flask.jsonify(status='ok', model=model_name, step=info['step'],
                         checkpoint=info['path'], resolution=default_resolution,
                         hints=hint_colorizer is not None)

  @server.post('/colorize')
  def colorize_upload():
    upload = flask.request.files.get('image')
    if upload is None:
      return _error(400, 'Send the photo as the multipart form field "image".')
    resolution = flask.request.form.get('resolution') or default_resolution
    try:
      resolution = colorize.parse_resolution(resolution)
    except ValueError as e:
      return _error(400, str(e))
    fmt = _output_format(flask.request)
    points, model = None, colorizer
    if flask.request.form.get('hints'):
      if hint_colorizer is None:
        return _error(400, 'This model was not trained with colour hints; send no "hints" field.')
      try:
        points = hints.parse(json.loads(flask.request.form['hints']), 'The "hints" field')
      except (ValueError, json.JSONDecodeError) as e:
        return _error(400, str(e))
      model = hint_colorizer
    try:
      rgb, alpha = images.read_image(
          upload.read(), max_pixels=int(max_megapixels * 1e6))
    except images.ImageTooLarge as e:
      return _error(413, f'The image is too large: {e}.')
    except DataError as e:
      return _error(415, f'The upload is {e}; send a JPEG, PNG, WebP, BMP or TIFF photo.')
    try:
      with slots:
        out = model.colorize(rgb, resolution, hints=points)
    except ValueError as e:  # A hint outside the photo, a bad colour.
      return _error(400, str(e))
    return flask.Response(images.encode(out, alpha, fmt), mimetype=_MIMETYPES[fmt])

  return server


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
      max_megapixels=flags.DEFINE_float('max_megapixels', 50, 'Largest image, megapixels.'))


def main(argv, args):
  model, variables, info = checkpoint.load_model(checkpoint.resolve(args.checkpoint.value))
  resolution = colorize.parse_resolution(args.resolution.value, info['config'])
  colorizer = colorize.Colorizer(model, variables)
  warm_up(colorizer, resolution)
  hint_colorizer = None
  if not args.checkpoint.value and os.path.isdir(checkpoint.PRETRAINED_HINTS):
    hint_colorizer = colorize.Colorizer(*checkpoint.load_model(checkpoint.PRETRAINED_HINTS)[:2])
    warm_up(hint_colorizer, resolution)
    logging.info('Requests with hints go to %s.', checkpoint.PRETRAINED_HINTS)
  server = create_app(colorizer, info, default_resolution=resolution,
                      max_upload_mb=args.max_upload_mb.value,
                      max_megapixels=args.max_megapixels.value,
                      hint_colorizer=hint_colorizer)
  logging.info('Serving %s (step %d) on http://%s:%d/', info['path'], info['step'],
               args.host.value, args.port.value)
  serving.run_simple(args.host.value, args.port.value, server, threaded=True)


def cli():
  """`colorjax-serve` (installed with the package): the same as `python -m colorjax.serve`."""
  command.run(__name__, main, _define_flags)


if __name__ == '__main__':
  cli()

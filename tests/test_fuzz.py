"""Hostile files (benchmarks/fuzz_decoder.py's corpus, made here from
scikit-image's photos): a seeded subset through the decoder, the server and
the colorize command; and large photos decoded already reduced."""

import io
import os
import random
import sys

import numpy as np
from PIL import Image
import pytest

from colorjax import colorize
from colorjax import images
from colorjax import inference
from colorjax import serve
from tests.conftest import REPO

sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
import fuzz_decoder  # pylint: disable=g-import-not-at-top,wrong-import-position

SUBSET = 300  # Of the full corpus's 2,400, for CI's time.
# Lying headers can declare tens of megapixels that then decode (as garbage,
# or colorized at that size): here the limit is 1 MP for CI's time; the
# benchmark keeps the server's default of 50.
LIMIT = 1_000_000


@pytest.fixture(scope='module')
def full_corpus():
  return fuzz_decoder.corpus()


@pytest.fixture(scope='module')
def subset(full_corpus):
  return random.Random(0).sample(full_corpus, SUBSET)


def test_the_corpus_is_large_varied_and_seeded(full_corpus):
  assert len(full_corpus) >= 2_000
  assert len({(name.rsplit('.', 1)[1], data) for name, _, data in full_corpus}) >= 2_000
  kinds = {kind for _, kind, _ in full_corpus}
  assert set(fuzz_decoder.MUTATIONS) <= kinds
  assert {'valid_png16', 'valid_cmyk_jpeg', 'valid_animated_gif', 'valid_animated_webp',
          'valid_multipage_tiff', 'valid_palette_transparent'} <= kinds
  assert fuzz_decoder.corpus(120, seed=3) == fuzz_decoder.corpus(120, seed=3)
  assert fuzz_decoder.corpus(120, seed=3) != fuzz_decoder.corpus(120, seed=4)


def test_every_input_decodes_or_is_one_data_error(subset):
  outcomes = [fuzz_decoder.read(data) for _, _, data in subset]  # Anything else raises.
  assert 0 < outcomes.count('image') < len(outcomes)
  valid = [fuzz_decoder.read(data) for _, kind, data in subset if kind.startswith('valid')]
  assert valid and set(valid) == {'image'}


def test_the_server_answers_every_input_with_a_photo_or_a_4xx_sentence(tiny_run, subset):
  model, variables, info = inference.load_model(tiny_run)
  app = serve.create_app(colorize.Colorizer(model, variables), info, default_resolution=32,
                         max_megapixels=LIMIT / 1e6)
  client = app.test_client()
  problems, statuses = [], set()
  for name, kind, data in subset:
    response = client.post('/colorize', data={'image': (io.BytesIO(data), name),
                                              'resolution': '32'},
                           content_type='multipart/form-data')
    statuses.add(response.status_code)
    body = response.get_json(silent=True) or {}
    readable = fuzz_decoder.read(data, LIMIT) == 'image'
    problems += fuzz_decoder.server_problems(response.status_code, body, name, readable)
    if kind == 'huge':
      assert response.status_code == 413, name
  assert not problems, problems[:10]
  assert {200, 413, 415} <= statuses
  assert client.get('/healthz').status_code == 200


def test_the_colorize_command_names_each_unreadable_file(tiny_run, subset, tmp_path):
  chosen = subset[:80]
  folder = str(tmp_path / 'corpus')
  fuzz_decoder.write_folder(chosen, folder)
  readable = {name for name, _, data in chosen if fuzz_decoder.read(data, LIMIT) == 'image'}
  assert 0 < len(readable) < len(chosen)
  problems = fuzz_decoder.check_cli(folder, str(tmp_path / 'out'), readable,
                                    checkpoint=tiny_run, max_pixels=LIMIT, timeout=600)
  assert not problems, problems[:10]


@pytest.mark.parametrize('fmt', ['JPEG', 'PNG'])
@pytest.mark.parametrize('size,limit,expected', [
    ((4000, 3000), 1_000_000, (1000, 750)),  # Factor 4: JPEG's decoder reaches it alone.
    ((3000, 2000), 1_000_000, (1000, 667)),  # Factor 3: JPEG's decoder halves, then a box filter.
])
def test_a_large_photo_is_decoded_reduced_by_an_integer_factor(fmt, size, limit, expected):
  rng = np.random.default_rng(0)
  photo = Image.fromarray(rng.integers(0, 256, (30, 40, 3), np.uint8)).resize(
      size, Image.BILINEAR)
  buffer = io.BytesIO()
  photo.save(buffer, fmt)
  full, _ = images.read_image(buffer.getvalue())
  reduced, _ = images.read_image(buffer.getvalue(), reduce_to_pixels=limit)
  assert full.shape == (size[1], size[0], 3)
  assert reduced.shape == (expected[1], expected[0], 3)  # The same size for every format.
  # The same photo, smaller: a box-filtered full decode, within JPEG's error.
  box = np.asarray(Image.fromarray(full).resize(expected, Image.Resampling.BOX))
  assert np.abs(reduced.astype(np.float32) - box).mean() < 3.0


def test_the_server_answers_a_large_photo_reduced_and_says_so(tiny_run):
  model, variables, info = inference.load_model(tiny_run)
  app = serve.create_app(colorize.Colorizer(model, variables), info, default_resolution=32,
                         max_output_megapixels=0.3)
  buffer = io.BytesIO()
  Image.new('RGB', (1200, 900), (90, 120, 60)).save(buffer, 'JPEG')
  response = app.test_client().post(
      '/colorize', data={'image': (io.BytesIO(buffer.getvalue()), 'big.jpg')},
      content_type='multipart/form-data')
  assert response.status_code == 200
  assert Image.open(io.BytesIO(response.data)).size == (600, 450)
  assert response.headers['X-Colorjax-Reduced-By'] == '2'


def test_reduction_factor_is_the_smallest_that_fits():
  for width, height, limit in [(4000, 3000, 12_000_000), (4001, 3000, 3_000_000),
                               (101, 100, 10_000), (7, 5, 1)]:
    factor = images.reduction_factor(width, height, limit)
    fits = lambda f: -(-width // f) * -(-height // f) <= limit
    assert fits(factor) and (factor == 1 or not fits(factor - 1))

"""Hostile image files against the decoder, the colorize command and the server.

  python benchmarks/fuzz_decoder.py                 # the full corpus: 2,400 inputs
  python benchmarks/fuzz_decoder.py --count=300     # a smaller seeded one

The corpus is made here from scikit-image's sample photos (no file is
committed): valid files in every format colorjax reads and the modes photo
folders hold (16-bit, CMYK, palette with transparency, gray with alpha,
animated GIF and WebP, multi-page TIFF), then truncations, byte flips, wrong
extensions, headers that lie (PNG, JPEG, BMP and GIF sizes, PNG bit depths
and colour types with valid checksums, zero and huge declared dimensions),
garbage ICC profiles, EXIF orientations out of range, empty files and
random bytes. Each input goes through `images.read_image` (a photo, or
colorjax's DataError: never another exception), then all of them through
`colorjax.colorize` on one folder (an output per readable file, a "failed:
PATH: sentence" line per other one, no traceback, exit 1) and `POST
/colorize` of a real `colorjax.serve` on 127.0.0.1 (200 or a 4xx with a
JSON sentence, never a 5xx; /healthz alive afterwards). Writes the counts
per kind and status with the machine, versions and date to
benchmarks/results/fuzz_decoder.json; exits 1 on any violation.
"""

import collections
import io
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from colorjax import colorize  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import images  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax.errors import DataError  # pylint: disable=g-import-not-at-top,wrong-import-position

EXTENSIONS = {'JPEG': '.jpg', 'PNG': '.png', 'WEBP': '.webp', 'BMP': '.bmp',
              'TIFF': '.tif', 'GIF': '.gif'}
MUTATIONS = ('truncated', 'flipped', 'wrong_extension', 'lying_size', 'lying_depth',
             'icc', 'exif', 'huge', 'zero', 'garbage')
# Declared sizes a lying header tries: empty, tiny, odd, over Pillow's bomb
# limits (89 and 179 megapixels) and the largest the fields hold.
MAX_PIXELS = 50_000_000  # The server's default limit; the command is given the same.
LYING_SIDES = (0, 1, 7, 4097, 12_000, 30_000, 65_535, 2**31 - 1)


def photos(size=(64, 48)) -> list[np.ndarray]:
  """Small uint8 RGB versions of scikit-image's colour sample photos."""
  import skimage.data  # pylint: disable=g-import-not-at-top
  return [np.asarray(Image.fromarray(getattr(skimage.data, name)()).convert('RGB').resize(size))
          for name in ('chelsea', 'coffee', 'astronaut', 'rocket')]


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, fmt, **options)
  return buffer.getvalue()


def valid_files(rgb: np.ndarray) -> list[tuple[str, str, bytes]]:
  """(kind, extension, bytes): one photo in every format and mode colorjax reads."""
  image = Image.fromarray(rgb)
  gray16 = Image.fromarray((rgb.mean(-1) * 257).astype(np.uint16))
  frames = [image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), image.rotate(180)]
  rgba = image.convert('RGBA')
  rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, rgb.shape[1], dtype=np.uint8),
                                        (rgb.shape[0], 1))))
  palette = image.convert('P', palette=Image.Palette.ADAPTIVE, colors=64)
  out = [(f'valid_{fmt.lower()}', ext, _encode(image, fmt)) for fmt, ext in EXTENSIONS.items()]
  out += [
      ('valid_png16', '.png', _encode(gray16, 'PNG')),
      ('valid_cmyk_jpeg', '.jpg', _encode(image.convert('CMYK'), 'JPEG')),
      ('valid_cmyk_tiff', '.tif', _encode(image.convert('CMYK'), 'TIFF')),
      ('valid_gray_alpha', '.png', _encode(image.convert('LA'), 'PNG')),
      ('valid_rgba_webp', '.webp', _encode(rgba, 'WEBP')),
      ('valid_palette_transparent', '.png', _encode(palette, 'PNG', transparency=0)),
      ('valid_bilevel', '.png', _encode(image.convert('1'), 'PNG')),
      ('valid_animated_gif', '.gif', _encode(frames[0], 'GIF', save_all=True,
                                              append_images=frames[1:], duration=100)),
      ('valid_animated_webp', '.webp', _encode(frames[0], 'WEBP', save_all=True,
                                                append_images=frames[1:], duration=100)),
      ('valid_multipage_tiff', '.tif', _encode(frames[0], 'TIFF', save_all=True,
                                                append_images=frames[1:])),
  ]
  return out


def _png_chunk(kind: bytes, body: bytes) -> bytes:
  return struct.pack('>I', len(body)) + kind + body + struct.pack(
      '>I', zlib.crc32(kind + body) & 0xFFFFFFFF)


def _patch_png_ihdr(data: bytes, *, width=None, height=None, depth=None, colour=None) -> bytes:
  """A PNG whose IHDR says otherwise, with a valid checksum (so it is read)."""
  w, h, d, c, rest = struct.unpack('>IIBB3s', data[16:29])
  body = struct.pack('>IIBB3s', w if width is None else width, h if height is None else height,
                     d if depth is None else depth, c if colour is None else colour, rest)
  return data[:8] + _png_chunk(b'IHDR', body) + data[33:]


def _patch_jpeg_size(data: bytes, width: int, height: int) -> bytes:
  """A JPEG whose start-of-frame declares width x height (sides mod 65,536)."""
  for marker in (b'\xff\xc0', b'\xff\xc2'):
    at = data.find(marker)
    if at >= 0:
      return (data[:at + 5] + struct.pack('>HH', height % 65_536, width % 65_536)
              + data[at + 9:])
  return data


def mutate(rng: random.Random, kind: str, ext: str, data: bytes,
           rgb: np.ndarray) -> tuple[str, bytes]:
  """One hostile variant of a valid file: (extension, bytes)."""
  if kind == 'truncated':
    return ext, data[:rng.randrange(len(data))]
  if kind == 'flipped':
    out = bytearray(data)
    for _ in range(rng.choice((1, 2, 4, 16, 64))):
      out[rng.randrange(len(out))] = rng.randrange(256)
    return ext, bytes(out)
  if kind == 'wrong_extension':
    return rng.choice([e for e in EXTENSIONS.values() if e != ext]), data
  image = Image.fromarray(rgb)
  if kind == 'lying_size':
    width, height = rng.choice(LYING_SIDES), rng.choice(LYING_SIDES)
    fmt = rng.choice(('PNG', 'JPEG', 'BMP', 'GIF'))
    encoded = _encode(image, fmt)
    if fmt == 'PNG':
      return '.png', _patch_png_ihdr(encoded, width=width, height=height)
    if fmt == 'JPEG':
      return '.jpg', _patch_jpeg_size(encoded, width, height)
    if fmt == 'BMP':  # BITMAPINFOHEADER: signed width and height at 18.
      return '.bmp', encoded[:18] + struct.pack(
          '<ii', width % 2**31, rng.choice((1, -1)) * (height % 2**31)) + encoded[26:]
    return '.gif', encoded[:6] + struct.pack('<HH', width % 65_536, height % 65_536) + encoded[10:]
  if kind == 'lying_depth':
    encoded = _encode(image.convert(rng.choice(('RGB', 'L', 'RGBA', 'P'))), 'PNG')
    return '.png', _patch_png_ihdr(encoded, depth=rng.choice((0, 1, 2, 4, 8, 16, 3, 255)),
                                   colour=rng.choice((0, 2, 3, 4, 6, 1, 7, 255)))
  if kind == 'icc':
    profile = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4097)))
    return ext, _encode(image, rng.choice(('JPEG', 'PNG')), icc_profile=profile)
  if kind == 'exif':
    exif = Image.Exif()
    exif[0x0112] = rng.choice((0, 1, 3, 6, 8, 9, 10, 255, 65_535, rng.randrange(65_536)))
    payload = exif.tobytes()
    if rng.random() < 0.3:  # Garbage after the EXIF marker.
      payload = b'Exif\x00\x00' + bytes(rng.randrange(256) for _ in range(64))
    fmt = rng.choice(('JPEG', 'PNG', 'WEBP'))
    return EXTENSIONS[fmt], _encode(image, fmt, exif=payload)
  if kind == 'huge':
    width, height = rng.randrange(9_000, 200_000), rng.randrange(9_000, 200_000)
    return '.png', _patch_png_ihdr(_encode(image, 'PNG'), width=width, height=height)
  if kind == 'zero':
    side = rng.randrange(1 << 16)
    return ext, rng.choice((b'', data[:rng.randrange(1, 33)], _patch_png_ihdr(
        _encode(image, 'PNG'), width=0, height=side), _patch_png_ihdr(
            _encode(image, 'PNG'), width=side, height=0)))
  if kind == 'garbage':
    return ext, bytes(rng.randrange(256) for _ in range(rng.choice((1, 16, 1024))))
  raise ValueError(f'unknown mutation {kind!r}')


def corpus(count: int = 2_400, seed: int = 0) -> list[tuple[str, str, bytes]]:
  """`count` inputs (name, kind, bytes), the same for a seed: every valid
  file once per photo, then mutations of them drawn at random."""
  rng = random.Random(seed)
  bases = []
  for i, rgb in enumerate(photos()):
    bases += [(kind, ext, data, rgb, i) for kind, ext, data in valid_files(rgb)]
  out = [(f'{i:04d}_{kind}{ext}', kind, data)
         for i, (kind, ext, data, _, _) in enumerate(bases[:count])]
  seen = {(ext, data) for _, ext, data, _, _ in bases}
  while len(out) < count:
    kind = MUTATIONS[len(out) % len(MUTATIONS)]
    for _ in range(20):  # A new input if one can be drawn.
      base_kind, ext, data, rgb, _ = rng.choice(bases)
      ext, mutated = mutate(rng, kind, ext, data, rgb)
      if (ext, mutated) not in seen:
        break
    seen.add((ext, mutated))
    out.append((f'{len(out):04d}_{kind}_of_{base_kind}{ext}', kind, mutated))
  return out


def read(data: bytes, max_pixels: int = MAX_PIXELS) -> str:
  """'image' (a photo colorjax colorizes) or 'refused' (a DataError, or a
  shape `colorize.working_size` refuses); any other exception propagates."""
  try:
    rgb, _ = images.read_image(data, max_pixels=max_pixels)
  except DataError:
    return 'refused'
  if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3 or 0 in rgb.shape:
    raise AssertionError(f'read_image returned {rgb.dtype} {rgb.shape}')
  try:
    colorize.working_size(*rgb.shape[:2], 32)
  except ValueError:
    return 'refused'
  return 'image'


def write_folder(inputs, folder: str) -> None:
  os.makedirs(folder, exist_ok=True)
  for name, _, data in inputs:
    with open(os.path.join(folder, name), 'wb') as f:
      f.write(data)


def check_cli(folder: str, out: str, readable: set[str], *, checkpoint: str = '',
              resolution: str = '32', max_pixels: int = MAX_PIXELS,
              timeout: float = 3_600) -> list[str]:
  """Runs colorjax.colorize on the folder (refusing more than max_pixels, as
  `read` judged `readable`); the violations found."""
  command = [sys.executable, '-m', 'colorjax.colorize', folder, f'--out={out}',
             f'--resolution={resolution}', f'--max_megapixels={max_pixels / 1e6:g}']
  if checkpoint:
    command.append(f'--checkpoint={checkpoint}')
  result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  problems = []
  if 'Traceback' in result.stderr:
    problems.append('colorize printed a traceback: ' + result.stderr[-1500:])
  failed = {line.split(': ')[1] for line in result.stderr.splitlines()
            if line.startswith('failed: ')}
  for name in sorted(os.listdir(folder)):
    path = os.path.join(folder, name)
    made = os.path.exists(os.path.join(out, os.path.splitext(name)[0] + '.png'))
    if name in readable and not made:
      problems.append(f'colorize made no output for readable {name}')
    if name not in readable and path not in failed:
      problems.append(f'colorize did not name unreadable {name} in a "failed:" line')
  expected = 1 if len(readable) < len(os.listdir(folder)) else 0
  if result.returncode != expected:
    problems.append(f'colorize exited {result.returncode}, not {expected}')
  return problems


def post(url: str, name: str, data: bytes, resolution: str = '32') -> tuple[int, dict]:
  """POSTs one file to /colorize; (status, JSON body or {})."""
  import common  # pylint: disable=g-import-not-at-top
  body, content_type = common.multipart(data, name, {'resolution': resolution})
  request = urllib.request.Request(f'{url}/colorize', data=body,
                                   headers={'Content-Type': content_type})
  try:
    with urllib.request.urlopen(request, timeout=120) as response:
      response.read()
      return response.status, {}
  except urllib.error.HTTPError as e:
    text = e.read()
    try:
      return e.code, json.loads(text)
    except ValueError:
      return e.code, {}


def server_problems(status: int, body: dict, name: str, readable: bool) -> list[str]:
  """What is wrong with the server's answer to one input."""
  if status >= 500:
    return [f'{name}: {status} {body}']
  if status == 200:
    return [] if readable else [f'{name}: 200 for a file read_image refuses']
  if not (400 <= status < 500 and isinstance(body.get('error'), str) and body['error']):
    return [f'{name}: {status} without a one-sentence JSON error']
  return [f'{name}: {status} for a readable file'] if readable and status != 413 else []


def main() -> int:
  from absl import flags  # pylint: disable=g-import-not-at-top
  import common  # pylint: disable=g-import-not-at-top
  count = flags.DEFINE_integer('count', 2_400, 'Inputs in the corpus.')
  seed = flags.DEFINE_integer('seed', 0, 'Seeds the corpus.')
  checkpoint = flags.DEFINE_string('checkpoint', '', 'Model (default: the bundle).')
  out = flags.DEFINE_string('out', 'benchmarks/results/fuzz_decoder.json', 'JSON output.')
  flags.FLAGS(sys.argv)
  inputs = corpus(count.value, seed.value)
  start = time.time()
  outcome = {name: read(data) for name, _, data in inputs}
  readable = {n for n, o in outcome.items() if o == 'image'}
  problems = []
  with tempfile.TemporaryDirectory() as tmp:
    folder = os.path.join(tmp, 'corpus')
    write_folder(inputs, folder)
    problems += check_cli(folder, os.path.join(tmp, 'out'), readable,
                          checkpoint=checkpoint.value)
    server, url = common.start_server([], checkpoint.value)
    statuses = collections.Counter()
    try:
      for name, kind, data in inputs:
        status, body = post(url, name, data)
        statuses[(kind, status)] += 1
        problems += server_problems(status, body, name, name in readable)
      with urllib.request.urlopen(f'{url}/healthz', timeout=10) as response:
        if response.status != 200:
          problems.append('/healthz did not answer 200 after the corpus')
    finally:
      server.terminate()
      server.wait(timeout=120)
  by_kind = collections.defaultdict(collections.Counter)
  for name, kind, _ in inputs:
    by_kind[kind.split('_')[0] if kind.startswith('valid') else kind][outcome[name]] += 1
  rows = [{'kind': kind, **counts} for kind, counts in sorted(by_kind.items())]
  rows += [{'kind': f'server {kind}', 'status': status, 'count': n}
           for (kind, status), n in sorted(statuses.items())]
  rows.append({'kind': 'total', 'inputs': len(inputs), 'readable': len(readable),
               'violations': len(problems), 'seconds': round(time.time() - start, 1)})
  common.write(out.value, common.environment(), rows)
  for problem in problems[:50]:
    print(problem)
  print(f'{len(inputs)} inputs, {len(readable)} readable, {len(problems)} violations')
  return 1 if problems else 0


if __name__ == '__main__':
  sys.exit(main())

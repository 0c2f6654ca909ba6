"""The colorizer as a serialized program that runs without colorjax.

  python -m colorjax.export --out=exported [--checkpoint=RUN] \
      [--sizes=768x512,512x768] [--resolution=auto] [--platforms=cpu,cuda]

Writes to --out, for each photo size WxH, `colorize_WxH.jaxexport`: a
`jax.export` artifact (StableHLO plus its calling convention) of the whole
path a photo takes in `colorize.Colorizer`: uint8 RGB [batch, H, W, 3] -> L,
bilinear resize to the working resolution, the network (its weights are
constants in the program), ab back to full size, colour at the photo's own
L -> uint8 RGB [batch, H, W, 3]. And `card.json`: the sizes and file names,
the working resolution, platforms, jax version, the model's checkpoint and
step, and how to call it. Serving it needs only jax, numpy and flatbuffers (jax's serialization):

  from jax import export
  with open('exported/colorize_768x512.jaxexport', 'rb') as f:
    program = export.deserialize(f.read())
  colorized = program.call(rgb)  # uint8 [n, 512, 768, 3], any n.

Limits:
- One program per photo size (shape bucket): the batch is symbolic, height
  and width are not, because the working size follows the photo's aspect
  ratio. Resize or pad photos to an exported size, or export the sizes you
  serve.
- Runs on the platforms it was exported for (default: this machine's); a
  program exported for 'cpu,cuda' holds both lowerings. Every convolution is
  XLA's own (`lowering.forced_lowering('xla')`), so one program suits every
  platform; on a CPU that is slower than colorjax's own path only for wide
  networks at 32x32 and above (see `lowering.conv_lowering`).
- The serialization format is jax's: a program loads in the jax version it
  was written with and, by jax's compatibility guarantees, in later ones for
  about six months; re-export after upgrading beyond that.
- Resizing is `jax.image.resize` (bilinear with antialiasing), not the PIL
  resize of `colorize.Colorizer`: measured on a 200x150 photo, at most 1
  level of 255 apart (tested).
"""

import json
import os
import sys
import types

from absl import flags
import jax
from jax import export as jax_export
import jax.numpy as jnp

from colorjax import checkpoint
from colorjax import color
from colorjax import colorize
from colorjax import command
from colorjax import hints
from colorjax import inference
from colorjax import lowering


def file_name(height: int, width: int) -> str:
  return f'colorize_{width}x{height}.jaxexport'


def colorize_fn(model, variables, height: int, width: int, resolution):
  """uint8 RGB [n, height, width, 3] -> colorized uint8 RGB, in jax only
  (automatic: a hint-conditioned model gets no hints)."""
  small_h, small_w = colorize.working_size(height, width, resolution)
  padded_h, padded_w = colorize.bucket(small_h), colorize.bucket(small_w)
  hinted = hints.reads_hints(model, variables)

  def one(rgb):
    l = color.normalize(color.rgb_to_lab(rgb))[0]
    small = jax.image.resize(l, (small_h, small_w, 1), 'linear')
    small = jnp.pad(small, ((0, padded_h - small_h), (0, padded_w - small_w), (0, 0)),
                    mode='edge')  # As Colorizer pads to its shape buckets.
    if hinted:
      small = hints.without_hints(small)
    ab = model.apply(variables, small[None], train=False)[0, :small_h, :small_w]
    ab = jax.image.resize(ab, (height, width, 2), 'linear')
    return color.compose(l, ab)

  return jax.vmap(one)


def export_sizes(model, variables, sizes, resolution, platforms=None):
  """({(height, width): serialized jax.export artifact} for each photo size,
  the platforms they were lowered for, as jax.export names them)."""
  batch, = jax_export.symbolic_shape('batch')
  out, lowered_for = {}, ()
  with lowering.forced_lowering('xla'):
    for height, width in sizes:
      fn = jax.jit(colorize_fn(model, variables, height, width, resolution))
      spec = jax.ShapeDtypeStruct((batch, height, width, 3), jnp.uint8)
      exported = jax_export.export(fn, platforms=platforms)(spec)
      out[(height, width)] = bytes(exported.serialize())
      lowered_for = exported.platforms
  return out, list(lowered_for)


def parse_sizes(text: str) -> list[tuple[int, int]]:
  """'768x512,512x768' (width x height) -> [(height, width), ...]."""
  sizes = []
  for item in [s for s in text.split(',') if s]:
    try:
      width, height = (int(v) for v in item.lower().split('x'))
    except ValueError:
      width = height = 0
    if width <= 0 or height <= 0:
      raise ValueError(f'Sizes are WIDTHxHEIGHT in pixels separated by commas, '
                       f'e.g. 768x512,512x768; {item!r} is not one.')
    sizes.append((height, width))
  if not sizes:
    raise ValueError('Give at least one size, e.g. --sizes=768x512.')
  return sizes


def write(out_dir: str, checkpoint_path: str, sizes, resolution, platforms=None) -> dict:
  """Exports the model at `checkpoint_path` for `sizes`; returns the card."""
  model, variables, info = inference.load_model(checkpoint_path)
  resolution = colorize.parse_resolution(resolution, info['config'])
  programs, lowered_for = export_sizes(model, variables, sizes, resolution, platforms)
  os.makedirs(out_dir, exist_ok=True)
  for (height, width), data in programs.items():
    with open(os.path.join(out_dir, file_name(height, width)), 'wb') as f:
      f.write(data)
  card = {
      'what': 'colorjax colorizer: uint8 RGB [n, height, width, 3] -> uint8 RGB '
              'of the same shape (gray photos: repeat the channel 3 times)',
      'call': "jax.export.deserialize(open(file, 'rb').read()).call(rgb)",
      'programs': [{'height': h, 'width': w, 'file': file_name(h, w)} for h, w in programs],
      'batch': 'symbolic: any n >= 1',
      'working_resolution': resolution,
      'platforms': lowered_for,
      'jax': jax.__version__,
      'checkpoint': os.path.abspath(checkpoint_path),
      'step': info['step'],
  }
  with open(os.path.join(out_dir, 'card.json'), 'w') as f:
    json.dump(card, f, indent=2)
  return card


def _define_flags():
  return types.SimpleNamespace(
      checkpoint=flags.DEFINE_string('checkpoint', None, 'Run or step directory '
                                     '(default: the bundled model).'),
      out=flags.DEFINE_string('out', None, 'Directory for the programs and card.json.'),
      sizes=flags.DEFINE_string('sizes', '768x512,512x768', 'Photo sizes WIDTHxHEIGHT, '
                                'one program each.'),
      resolution=flags.DEFINE_string('resolution', 'auto', 'Working resolution '
                                     "(shorter side), 'native' or 'auto' (the run's)."),
      platforms=flags.DEFINE_list('platforms', None, "Platforms to lower for, e.g. "
                                  "cpu,cuda (default: this machine's)."),
  )


def main(argv, args) -> int:
  if len(argv) > 1:
    raise ValueError(f'Unexpected arguments {" ".join(argv[1:])}: everything is a flag.')
  if not args.out.value:
    raise ValueError('Name the output folder with --out=DIR.')
  sizes = parse_sizes(args.sizes.value)
  card = write(args.out.value, checkpoint.resolve(args.checkpoint.value), sizes,
               args.resolution.value, args.platforms.value)
  print(f'{len(card["programs"])} programs for {", ".join(card["platforms"])} and '
        f'card.json in {args.out.value}', file=sys.stderr)
  return 0


def cli():
  """`colorjax-export` (installed with the package): the same as `python -m colorjax.export`."""
  command.run(__name__, main, _define_flags)


if __name__ == '__main__':
  cli()

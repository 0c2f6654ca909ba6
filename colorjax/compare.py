"""A picture of several models' colorizations side by side.

  python -m colorjax.compare --data=../shared/data/eval/kodak24 \
    --models=runs/photos_unet,runs/unet_classification,runs/unet_gan \
    --resolution=128 --out=docs/examples_kodak24.jpg

Rows: the first --images photos of --data by name; columns: gray input, each
model in the order given (a run or step directory; 'bundled' for the bundled
model), ground truth. Prints the column order.
"""

import types

from absl import flags
from PIL import Image

from colorjax import checkpoint
from colorjax import colorize
from colorjax import command
from colorjax import evaluate
from colorjax import inference
from colorjax import sources


def compare(data: str, paths: list[str], resolution, images: int):
  """(grid uint8 [h, w, 3], column names)."""
  source, names = sources.open_images(data, None)
  photos = [source.load(i) for i in range(min(images, len(names)))]
  columns, outputs, grays = ['gray'], [], []
  for path in paths:
    model, variables, info = inference.load_model(
        checkpoint.resolve(None if path == 'bundled' else path))
    colorizer = colorize.Colorizer(model, variables)
    outputs.append([colorizer.colorize(photo, resolution) for photo in photos])
    columns.append(f'{path} (step {info["step"]})')
    if not grays:  # The gray input (L kept, a = b = 0) needs no model.
      for photo in photos:
        l = colorizer.lightness(photo[None])
        grays.append(colorizer.gray(l)[0])
  rows = [(gray, *(out[i] for out in outputs), photo)
          for i, (gray, photo) in enumerate(zip(grays, photos))]
  return evaluate.grid_image(rows), columns + ['ground truth']


def _define_flags():
  """The command's flags; defined only when this module runs as the program."""
  return types.SimpleNamespace(
      data=flags.DEFINE_string('data', None, 'Folder of photos, or tfds:NAME:SPLIT.'),
      models=flags.DEFINE_list('models', ['bundled'], 'Run or step directories, '
                               'comma-separated; "bundled" for the bundled model.'),
      resolution=flags.DEFINE_string('resolution', '128', 'Working resolution: '
                                     'shorter side in pixels, or "native".'),
      images=flags.DEFINE_integer('images', 6, 'Photos (rows), the first by name.'),
      out=flags.DEFINE_string('out', None, 'The picture to write (.jpg or .png).'))


def main(argv, args) -> int:
  if not args.data.value or not args.out.value:
    raise ValueError('Name the photos with --data=FOLDER and the picture with --out=FILE.')
  resolution = colorize.parse_resolution(args.resolution.value)
  grid, columns = compare(args.data.value, args.models.value, resolution,
                          args.images.value)
  Image.fromarray(grid).save(args.out.value, quality=90)
  print(f'{args.out.value}: columns ' + ' | '.join(columns))
  return 0


def cli():
  """`colorjax-compare` (installed with the package): the same as `python -m colorjax.compare`."""
  command.run(__name__, main, _define_flags)


if __name__ == '__main__':
  cli()

"""Fine-tune colorjax's U-Net on your own photos from your own JAX program.

  pip install -e .   # in a checkout of colorjax, or pip install git+URL
  python docs/finetune.py --photos=MY_PHOTOS --steps=500 --colorize=old.jpg

colorjax as a library: the network (`colorjax.models.UNet`), the colour space
(`colorjax.color`) and the bundled model's weights to start from
(`colorjax.checkpoint`); the data, optimiser and loop below are plain numpy,
optax and jax. It prints the loss and writes --colorize's photo colorized
by the fine-tuned network.
"""

import argparse
import glob
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from PIL import Image

from colorjax import checkpoint
from colorjax import color
from colorjax import colorize
from colorjax import inference


def random_crops(folder: str, size: int, batch: int, seed: int = 0):
  """Endless batches of random size x size RGB crops of the folder's photos."""
  paths = sorted(p for p in glob.glob(os.path.join(folder, '**', '*'), recursive=True)
                 if p.lower().endswith(('.jpg', '.jpeg', '.png')))
  photos = [np.asarray(Image.open(p).convert('RGB')) for p in paths]
  photos = [p for p in photos if min(p.shape[:2]) >= size]
  if not photos:
    raise SystemExit(f'No JPEG or PNG photo of at least {size}x{size} pixels in {folder}.')
  rng = np.random.default_rng(seed)
  while True:
    out = []
    for i in rng.integers(len(photos), size=batch):
      photo = photos[i]
      top = rng.integers(photo.shape[0] - size + 1)
      left = rng.integers(photo.shape[1] - size + 1)
      out.append(photo[top:top + size, left:left + size])
    yield np.stack(out)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--photos', required=True, help='Folder of your photos (recursive).')
  parser.add_argument('--steps', type=int, default=500)
  parser.add_argument('--batch', type=int, default=16)
  parser.add_argument('--size', type=int, default=64, help='Crop side in pixels.')
  parser.add_argument('--learning_rate', type=float, default=1e-4)
  parser.add_argument('--colorize', help='A photo to colorize with the result.')
  parser.add_argument('--out', default='finetuned.png', help='Where --colorize writes.')
  args = parser.parse_args()

  # The bundled model: a models.UNet, as a function of l that returns ab
  # whatever its head (a classification head's logits are decoded to ab,
  # differentiably), and its variables (params, batch_stats).
  model, variables, _ = inference.load_model(checkpoint.resolve(None))
  optimizer = optax.adam(args.learning_rate)
  opt_state = optimizer.init(variables['params'])

  @jax.jit
  def train_step(variables, opt_state, rgb):
    l, ab = color.normalize(color.rgb_to_lab(rgb))  # Input L, target ab.

    def loss_fn(params):
      predicted, updates = model.apply({**variables, 'params': params}, l, train=True,
                                       mutable=['batch_stats'])
      return jnp.mean(jnp.square(predicted - ab)), updates

    (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables['params'])
    changes, opt_state = optimizer.update(grads, opt_state, variables['params'])
    params = optax.apply_updates(variables['params'], changes)
    return {'params': params, **updates}, opt_state, loss

  batches = random_crops(args.photos, args.size, args.batch)
  for step in range(1, args.steps + 1):
    variables, opt_state, loss = train_step(variables, opt_state, next(batches))
    if step == 1 or step % 50 == 0 or step == args.steps:
      print(f'step {step}: loss {float(loss):.5f}')

  if args.colorize:
    photo = np.asarray(Image.open(args.colorize).convert('RGB'))
    result = colorize.Colorizer(model, variables).colorize(photo, 128)
    Image.fromarray(result).save(args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
  main()

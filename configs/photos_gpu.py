"""The reference recipes for one GPU, on both shared photo folders: one file, a variant each.

  python -m colorjax.main --config=configs/photos_gpu.py:unet --workdir=runs/gpu/unet
  python -m colorjax.main --config=configs/photos_gpu.py:classification --workdir=runs/gpu/classification
  python -m colorjax.main --config=configs/photos_gpu.py:hints --workdir=runs/gpu/hints
  python -m colorjax.main --config=configs/photos_gpu.py:cnn --workdir=runs/gpu/cnn
  python -m colorjax.main --config=configs/photos_gpu.py:gan --workdir=runs/gpu/gan

What `launch/gpu_reference.sh` runs, side by side, on a lent GPU. The CPU
recipes (configs/photos_unet.py and the configs built on it) scaled up: a
U-Net of widths 32-64-128-256 with a 256-channel bottleneck (5.1 M
parameters, 2.6x the CPU one), trained from the start on 128x128 crops of
the photos at their working resolution (shorter side 128, rescaled by
1-1.25: the CPU recipes' second stage, without the 64x64 first stage that
only saved CPU time), 32 per batch, bfloat16 computation, Adam 1e-3 with
cosine decay, on `../shared/data/train` and `../shared/data/train_more`
(2% of each held out by the run's split, the same files wherever the folders
lie). Variants:
  unet            MSE on ab (the seed study's loss);
  classification  the classification head (Zhang et al. 2016), decoded as
                  configs/unet_classification.py until colorjax.tune picks;
  hints           the MSE U-Net reading simulated colour hints (colorjax.hints);
  cnn             the seed's 8-layer CNN on 64x64 crops rescaled by 0.75-1.25
                  (it works at full resolution: 25 GFLOP per crop forward);
  gan             the unet variant as the generator of the pix2pix GAN.
On one H100 four of them side by side ran at 670-1,990 images/s each
(about three minutes for 8,000 steps; docs/experiments.md, "GPU"). The classification
and hints variants are the bundled models (MODEL_CARD.md). Evaluate at
--resolution=128.
"""

from configs import photos_unet

VARIANTS = ('unet', 'classification', 'hints', 'cnn', 'gan')


def get_config(variant: str = 'unet'):
  if variant not in VARIANTS:
    raise ValueError(f'configs/photos_gpu.py has no variant {variant!r}; '
                     f'use one of {", ".join(VARIANTS)} (e.g. photos_gpu.py:unet).')
  config = photos_unet.get_config()
  config.data.folder = '../shared/data/train,../shared/data/train_more'
  config.data.image_size = 128
  config.data.scale_range = (1.0, 1.25)
  config.data.num_threads = 4
  config.model.widths = (32, 64, 128, 256)
  config.model.bottleneck = 256
  config.half_precision = True
  config.num_train_steps = 8_000
  config.opt.warmup_steps = 500
  config.log_every_steps = 250
  config.eval_every_steps = 0
  config.checkpoint_every_steps = 1_000
  if variant == 'classification':
    config.model.head = 'classification'
  elif variant == 'hints':
    config.hints.enabled = True
  elif variant == 'cnn':
    config.model.name = 'cnn'
    config.data.image_size = 64
    config.data.scale_range = (0.75, 1.25)
  elif variant == 'gan':
    config.gan.enabled = True
    config.gan.disc_widths = (32, 64, 128, 256)
    config.opt.b1 = 0.5
    config.num_train_steps = 5_000
  return config

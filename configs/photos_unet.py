"""The reference U-Net recipe on the shared training photos (2,316, shorter side 128).

  python -m colorjax.main --config=configs/photos_unet.py

Random 64x64 crops of each photo rescaled by 0.75-1.25 (so the model works
at working resolutions around 128), a U-Net of widths 16-32-64-128
(1,942,306 parameters), MSE on ab, 8,000 steps of 32. Sized for 2 CPU cores
(about 56 images/s there); on a GPU raise the widths, global_batch_size,
image_size and half_precision. Evaluate at --resolution=128. Writes
runs/photos_unet/.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.data.source = 'folder'
  config.data.folder = '../shared/data/train'
  config.data.eval_fraction = 0.02
  config.data.image_size = 64
  config.data.resize_shorter = 128
  config.data.scale_range = (0.75, 1.25)
  config.data.cache = True
  config.model.widths = (16, 32, 64, 128)
  config.model.bottleneck = 256
  config.global_batch_size = 32
  config.eval.batch_size = 32
  config.num_train_steps = 8_000
  config.opt.learning_rate = 1e-3
  config.opt.warmup_steps = 500
  config.log_every_steps = 100
  config.eval_every_steps = 2_000
  config.checkpoint_every_steps = 1_000
  return config


def fine_tune_on_128_crops(config, init_from: str, steps: int):
  """A second stage for a run of this recipe (or one built on it): start from
  the run at `init_from` and train `steps` more on 128x128 crops of photos
  with shorter side 128-160 (the working resolution), 8 per batch (the same
  pixels per step as 32 crops of 64x64), peak learning rate 3e-4."""
  config.init_from = init_from
  config.data.image_size = 128
  config.data.resize_shorter = 128
  config.data.scale_range = (1.0, 1.25)
  config.global_batch_size = 8
  config.eval.batch_size = 8
  config.num_train_steps = steps
  config.opt.learning_rate = 3e-4
  config.opt.warmup_steps = 100
  config.eval_every_steps = 1_000
  config.checkpoint_every_steps = 500
  return config

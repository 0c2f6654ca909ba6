"""The U-Net on a folder of your photos: shorter side 288, random 256x256 crops.

  python -m colorjax.main --config=configs/photos256.py --config.data.folder=PATH

5% of the files (by a stable hash of their path) are held out for eval;
bf16 computation, for GPUs. Writes runs/photos256/.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.data.source = 'folder'
  config.data.image_size = 256
  config.data.resize_shorter = 288
  config.data.num_workers = 8
  config.global_batch_size = 32
  config.eval.batch_size = 32
  config.half_precision = True
  config.num_train_steps = 100_000
  config.eval_every_steps = 5_000
  config.checkpoint_every_steps = 5_000
  return config

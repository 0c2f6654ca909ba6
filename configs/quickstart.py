"""A small U-Net on scikit-image's sample photos: offline, CPU, a few minutes.

  python -m colorjax.main --config=configs/quickstart.py --workdir=runs/quickstart

Trains on random 64x64 crops of seven photos and evaluates on two held-out
ones; writes a checkpoint, eval_metrics.jsonl and images/step_*.png.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.data.source = 'sample'
  config.data.image_size = 64
  config.data.resize_shorter = 128
  config.data.cache = True
  config.model.widths = (16, 32, 64)
  config.model.bottleneck = 128
  config.global_batch_size = 16
  config.num_train_steps = 400
  config.log_every_steps = 50
  config.eval_every_steps = 200
  config.checkpoint_every_steps = 200
  config.opt.learning_rate = 2e-3
  config.opt.warmup_steps = 50
  config.eval.batch_size = 8
  return config

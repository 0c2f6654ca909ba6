"""The seed's 8-layer CNN baseline on CIFAR-10: batch 64, 32x32 crops.

  python -m colorjax.main --config=configs/cnn.py

Needs CIFAR-10 prepared for TFDS (see docs/data.md); writes runs/cnn/.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model.name = 'cnn'
  config.global_batch_size = 64
  return config

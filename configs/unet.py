"""The U-Net (31 M parameters) on CIFAR-10 at 32x32, the seed study's setting.

  python -m colorjax.main --config=configs/unet.py

Needs CIFAR-10 prepared for TFDS (see docs/data.md; or CIFAR-10 as image folders: launch/seed_table.sh with DATA=); writes runs/unet/.
"""

from configs import default


def get_config():
  return default.get_config()

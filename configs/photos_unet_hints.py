"""User-guided colorization (Zhang et al. 2017) on the shared training photos.

  python -m colorjax.main --config=configs/photos_unet_hints.py
  python -m colorjax.evaluate --checkpoint=runs/photos_unet_hints \
      --data=../shared/data/eval/kodak24 --resolution=128 \
      --hints=0,1,2,5,10,20,50 --out=runs/photos_unet_hints/eval_kodak24

configs/photos_unet.py (the 16-32-64-128 U-Net, MSE on ab, 64x64 crops,
batch 32) reading colour hints as well (config.hints.enabled): l, the hint
ab and the hint mask, with hints simulated from the truth at every step
(`colorjax.hints`). 3,000 steps, sized for 2 CPU cores. Writes
runs/photos_unet_hints/.
"""

from configs import photos_unet


def get_config():
  config = photos_unet.get_config()
  config.hints.enabled = True
  config.num_train_steps = 3_000
  config.opt.warmup_steps = 300
  config.eval_every_steps = 1_000
  return config

"""The hint model of configs/photos_unet_hints.py, fine-tuned on 128x128 crops.

  python -m colorjax.main --config=configs/photos_unet_hints.py
  python -m colorjax.main --config=configs/photos_unet_hints_128.py
  python -m colorjax.evaluate --checkpoint=runs/photos_unet_hints_128 \
      --data=../shared/data/eval/kodak24 --resolution=128 \
      --hints=0,1,2,5,10,20,50 --out=runs/photos_unet_hints_128/eval_kodak24

Starts from the parameters of runs/photos_unet_hints (config.init_from; 3,000
steps on 64x64 crops) and trains on 128x128 crops of the same photos (shorter
side 128-160, the working resolution the model is used at), 8 per batch: the
same pixels per step as 32 crops of 64x64. At 64x64 the simulated hints (7 on
average) sit 6 times closer together than 10 hints on a 128x192 photo, and
no pixel is more than a few dozen pixels from a hint; here the network learns
to carry a hint's colour as far as it will have to at that resolution.
6,000 steps at a peak learning rate of 3e-4, sized for 2 CPU cores. Writes
runs/photos_unet_hints_128/.
"""

from configs import photos_unet
from configs import photos_unet_hints


def get_config():
  return photos_unet.fine_tune_on_128_crops(
      photos_unet_hints.get_config(), init_from='runs/photos_unet_hints', steps=6_000)

"""The bundled hint model's third stage: the second
(configs/photos_unet_hints_128.py) trained on more photos, both shared
folders, 128x128 crops.

  python -m colorjax.main --config=configs/photos_unet_hints.py
  python -m colorjax.main --config=configs/photos_unet_hints_128.py
  python -m colorjax.main --config=configs/photos_unet_hints_more.py
  python -m colorjax.evaluate --checkpoint=runs/photos_unet_hints_more \\
      --data=../shared/data/eval/kodak24 --hints=0,1,2,5,10,20,50 \\
      --out=runs/photos_unet_hints_more/eval_kodak24

Starts from the parameters of runs/photos_unet_hints_128 (config.init_from)
and trains 3,000 steps on `../shared/data/train` and `../shared/data/train_more`
(2,367 more photos, with more streets and buildings: the mix the automatic
bundle trained on), with the 128x128 fine-tuning settings of
`photos_unet.fine_tune_on_128_crops`. The held-out split is this run's own
(the second stage's 46 photos of `train` and 42 of `train_more`). Writes
runs/photos_unet_hints_more/; its export was colorjax/pretrained_hints
until 2026-11-27 19:44, when the GPU-trained configs/photos_gpu.py:hints
replaced it (docs/experiments.md, "Colour hints").
"""

from configs import photos_unet
from configs import photos_unet_hints


def get_config():
  config = photos_unet.fine_tune_on_128_crops(
      photos_unet_hints.get_config(), init_from='runs/photos_unet_hints_128', steps=3_000)
  config.data.folder = '../shared/data/train,../shared/data/train_more'
  return config

"""The automatic model of configs/photos_classification.py, fine-tuned on 128x128 crops.

  python -m colorjax.main --config=configs/photos_classification.py
  python -m colorjax.main --config=configs/photos_classification_128.py
  python -m colorjax.tune --checkpoint=runs/photos_classification_128 \\
      --adjustments=0.6,0.8,1,1.2 --temperatures=0.2,0.38,0.6,0.8 \\
      --confidences=0,1,2,4,8 --min_gain_db=0.5 --min_folder_gain_db=0.2 \\
      --out=runs/photos_classification_128/tune_folders \\
      --export=runs/photos_classification_128_folders

Starts from the parameters of runs/photos_classification (config.init_from;
4,500 steps on 64x64 crops) and trains on 128x128 crops of the same photos
(shorter side 128-160, the working resolution the model is used at), 8 per
batch: the same pixels per step as 32 crops of 64x64, with the context of a
whole photo. The change that helped the hint model (docs/experiments.md, "Colour
hints"). 3,000 steps at a peak learning rate of 3e-4, sized for 2 CPU cores.
The held-out split is the same as the first run's (same folders and
split seed). Writes runs/photos_classification_128/. The tuned export of
step 3,000 was colorjax/pretrained until 2026-11-27 19:36, when the
GPU-trained configs/photos_gpu.py:classification replaced it (docs/experiments.md,
"The bundle changes again" and "The bundle changes: a GPU-trained
classification U-Net").
"""

from configs import photos_classification
from configs import photos_unet


def get_config():
  return photos_unet.fine_tune_on_128_crops(
      photos_classification.get_config(), init_from='runs/photos_classification', steps=3_000)

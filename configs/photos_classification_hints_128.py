"""The classification hint model of configs/photos_classification_hints.py, fine-tuned on 128x128 crops.

  python -m colorjax.main --config=configs/photos_classification_hints.py \\
      --config.num_train_steps=3000
  python -m colorjax.main --config=configs/photos_classification_hints_128.py
  python -m colorjax.tune --checkpoint=runs/photos_classification_hints_128 --hints=10 \\
      --adjustments=0,0.4,0.8,1 --temperatures=0.38,0.6,1 --confidences=0,4 \\
      --min_gain_db=99 --out=runs/photos_classification_hints_128/tune_hints10 \\
      --export=runs/photos_classification_hints_128_tuned

The second stage that helped the MSE hint model (docs/experiments.md, "Colour
hints"): from the 64x64 run's parameters (config.init_from), 2,000 steps on
128x128 crops, 8 per batch, peak learning rate 3e-4. Tuned at 10 hints (with
--min_gain_db=99 no setting passes, so tune keeps the best PSNR), then
compared with the bundled hint model on the same 88 held-out photos
(`colorjax.evaluate --held_out=runs/photos_unet_hints_more
--hints=0,1,2,5,10,20,50`): 0.06-0.46 dB below it at every count
(docs/experiments.md, "A classification head reading hints"). Writes
runs/photos_classification_hints_128/.
"""

from configs import photos_classification_hints
from configs import photos_unet


def get_config():
  return photos_unet.fine_tune_on_128_crops(
      photos_classification_hints.get_config(), init_from='runs/photos_classification_hints',
      steps=2_000)

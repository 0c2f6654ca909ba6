"""A hint model with the automatic bundle's head: classification on both folders.

  python -m colorjax.main --config=configs/photos_classification_hints.py
  python -m colorjax.evaluate --checkpoint=runs/photos_classification_hints \\
      --held_out=runs/photos_classification_hints --hints=0,1,2,5,10,20,50 \\
      --out=runs/photos_classification_hints/held_out

configs/photos_classification.py (the 16-32-64-128 U-Net predicting logits
over the 261 ab bins, rebalanced cross-entropy, 64x64 crops, batch 32, both
shared photo folders, 4,500 steps) reading colour hints as well
(config.hints.enabled), simulated from the truth at every step. The
question it answers: whether a hint carries further, and stays more
saturated away from the hint, when the network predicts a distribution
decoded with the confidence rule than when it regresses the mean colour
(the bundled hint model, configs/photos_unet_hints_more.py). Its decoding
is tuned like the automatic model's (`colorjax.tune`); compare the two on
the held-out photos (`--held_out`) before any test set. Writes
runs/photos_classification_hints/. Measured so far (docs/experiments.md, "A
classification head reading hints"): a run cut to 3,000 steps
(--config.num_train_steps=3000), below the bundled hint model at every
hint count, also after its 128x128 stage (photos_classification_hints_128).
"""

from configs import photos_classification


def get_config():
  config = photos_classification.get_config()
  config.hints.enabled = True
  return config

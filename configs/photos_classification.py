"""The bundled model's first stage: the classification U-Net on both shared photo folders.

  python -m colorjax.main --config=configs/photos_classification.py

configs/unet_classification.py (the 16-32-64-128 U-Net predicting logits
over the 261 in-gamut ab bins, rebalanced cross-entropy with lambda 0.5,
64x64 crops rescaled 0.75-1.25, batch 32, Adam 1e-3 with 500 warm-up steps
and cosine decay) on `../shared/data/train` and `../shared/data/train_more`,
2% of each held out by the run's split. Its second stage is
configs/photos_classification_128.py. Alone, choose its decoding on those
held-out photos only:

  python -m colorjax.tune --checkpoint=runs/photos_classification \\
      --adjustments=0,0.2,0.4,0.6,0.8,1 --temperatures=0.2,0.38,0.6,1 \\
      --min_gain_db=0.5 --out=runs/photos_classification/tune \\
      --export=runs/photos_classification_tuned

About 27 images/s on 2 CPU cores (1 h 30 min for 4,500 steps); writes
runs/photos_classification/. The tuned export of step 4,500 was
colorjax/pretrained on 2026-11-27 until the second stage replaced it
(MODEL_CARD.md; docs/experiments.md, "The bundle changes" and "The bundle changes again").
"""

from configs import unet_classification


def get_config():
  config = unet_classification.get_config()
  config.data.folder = '../shared/data/train,../shared/data/train_more'
  config.num_train_steps = 4_500
  config.eval_every_steps = 1_500
  config.checkpoint_every_steps = 500
  return config

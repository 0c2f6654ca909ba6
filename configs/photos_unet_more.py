"""A candidate, not bundled: the reference U-Net (MSE) on both shared photo folders.

  python -m colorjax.main --config=configs/photos_unet_more.py

configs/photos_unet.py (the 16-32-64-128 U-Net, MSE on ab, 64x64 crops of
photos rescaled by 0.75-1.25, batch 32, Adam 1e-3 with 500 warm-up steps
and cosine decay) on `../shared/data/train` (2,316 photos) and
`../shared/data/train_more` (2,367 more, with more streets and buildings),
2% of each held out by the run's split, for 5,000 steps. `train` alone
taught the earlier bundled model a warm prior (mean b +9.3 against +3.2
for train_more; docs/experiments.md, "Where the previous bundled model's sepia cast
came from"). Lower than gray on the held-out photos, so not bundled
(docs/experiments.md, "A candidate on both photo folders"). Sized for 2 CPU cores;
writes runs/photos_unet_more/.
"""

from configs import photos_unet


def get_config():
  config = photos_unet.get_config()
  config.data.folder = '../shared/data/train,../shared/data/train_more'
  config.num_train_steps = 5_000
  config.eval_every_steps = 1_000
  config.checkpoint_every_steps = 500
  return config

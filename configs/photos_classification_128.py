"""The automatic model of configs/photos_classification.py, fine-tuned on 128x128 crops.

  python -m colorjax.main --config=configs/photos_classification.py
  python -m colorjax.main --config=configs/photos_classification_128.py
  python -m colorjax.tune --checkpoint=runs/photos_classification_128 \\
      --adjustments=0,0.2,0.4,0.6,0.8,1 --temperatures=0.2,0.38,0.6,1 \\
      --min_gain_db=0.5 --out=runs/photos_classification_128/tune \\
      --export=runs/photos_classification_128_tuned

Starts from the parameters of runs/photos_classification (config.init_from;
4,500 steps on 64x64 crops) and trains on 128x128 crops of the same photos
(shorter side 128-160, the working resolution the model is used at), 8 per
batch: the same pixels per step as 32 crops of 64x64, with the context of a
whole photo. The change that helped the hint model (RESULTS.md, "Colour
hints"). 3,000 steps at a peak learning rate of 3e-4, sized for 2 CPU cores.
The held-out split is the same as the first run's (same folders and
split seed). Writes runs/photos_classification_128/.
"""

from configs import photos_classification


def get_config():
  config = photos_classification.get_config()
  config.init_from = 'runs/photos_classification'
  config.data.image_size = 128
  config.data.resize_shorter = 128
  config.data.scale_range = (1.0, 1.25)
  config.global_batch_size = 8
  config.eval.batch_size = 8
  config.num_train_steps = 3_000
  config.opt.learning_rate = 3e-4
  config.opt.warmup_steps = 100
  config.eval_every_steps = 1_000
  config.checkpoint_every_steps = 500
  return config

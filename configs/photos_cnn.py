"""The seed CNN recipe on the shared training photos (2,316, shorter side 128).

  python -m colorjax.main --config=configs/photos_cnn.py

The same data and augmentation as configs/photos_unet.py (random 64x64
crops, rescaled by 0.75-1.25) for the seed's 8-layer CNN (3,099,714
parameters), MSE on ab. The CNN works at full resolution throughout: 25.4
GFLOP per 64x64 crop forward, 67x the 0.38 GFLOP of photos_unet.py's small
U-Net (counted with benchmarks/flops.py), so this is a recipe for a GPU; on 2
CPU cores expect about 1.5 images/s (an estimate: the CPU train-step benchmark
in docs/experiments.md measured 6.1 images/s at 32x32, and 64x64 has 4x the pixels).
Evaluate at --resolution=128. Writes runs/photos_cnn/.
"""

from configs import photos_unet


def get_config():
  config = photos_unet.get_config()
  config.model.name = 'cnn'
  config.half_precision = True
  return config

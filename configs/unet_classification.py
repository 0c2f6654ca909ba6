"""The reference U-Net recipe with the classification head (Zhang et al. 2016).

  python -m colorjax.main --config=configs/unet_classification.py

configs/photos_unet.py (same photos, crops, network body, steps, optimiser),
but the network predicts logits over the 261 in-gamut ab bins and trains with
the class-rebalanced cross-entropy against soft-encoded targets; at inference
the annealed mean (T = 0.38) turns the distribution into one colour. The ab
prior is counted over the training photos at the first start and kept in
<workdir>/ab_prior.npz (or compute it once with `python -m colorjax.prior`
and set --config.classification.prior). For CIFAR-10, ImageNet or Places365
through TFDS set --config.data.source=tfds --config.data.tfds_name=NAME as in
configs/unet.py. Writes runs/unet_classification/.
"""

from configs import photos_unet


def get_config():
  config = photos_unet.get_config()
  config.model.head = 'classification'
  return config

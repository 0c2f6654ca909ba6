"""The reference U-Net recipe trained adversarially (pix2pix, Isola et al. 2017).

  python -m colorjax.main --config=configs/unet_gan.py

configs/photos_unet.py (same photos, crops, generator, steps, schedule) as
the generator of a conditional GAN: a 70x70 PatchGAN discriminator judges
(L, ab) pairs, and the generator's loss is the non-saturating adversarial
loss plus 100 x L1 on normalised ab. Adam with beta1 = 0.5 for both networks,
as pix2pix. To start the generator from a trained regression run, add
--config.gan.init_from=runs/photos_unet. For TFDS data set
--config.data.source=tfds --config.data.tfds_name=NAME as in configs/unet.py.
Writes runs/unet_gan/.
"""

from configs import photos_unet


def get_config():
  config = photos_unet.get_config()
  config.gan.enabled = True
  config.gan.disc_widths = (32, 64, 128, 256)  # Sized like the CPU generator.
  config.opt.b1 = 0.5
  config.gan.disc_learning_rate = 2e-4
  return config

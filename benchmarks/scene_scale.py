"""How much can a per-photo colour amount buy an encoder U-Net? Scored on
the model's own held-out photos only (never a test set).

  python benchmarks/scene_scale.py --checkpoint=runs/encoder_classification_neutral_long \
      --out=benchmarks/results/scene_scale.json

The held-out rule's choice is held back by the nearly neutral scenes: a
decoding that keeps more colour paints them. `classification.Decoded`'s
scene gate scales each photo's colour by the network's own mean chroma. This
benchmark asks whether any per-photo scale could do better, with one
decoding (--adjustment, --temperature; a regression (MSE) run has none: its
ab as trained, and the gate's evidence is their mean chroma) and the photo's
ab multiplied by:

- 1 (no gate);
- the scene gate at each of --scene_chromas;
- a learned scale: ridge regression (and with --boosted, gradient-boosted
  trees), fitted on the run's training photos (every photo of the neutral
  folder and --train_photos of the others), from each of --feature_sets
  (the encoder's five feature maps averaged over the photo, their spread
  over it, statistics of the photo's lightness; always with the log of the
  gate's mean chroma and of the decoded mean chroma) to the photo's
  least-squares scale (with --cross_fit=K, also K-fold on the held-out
  photos, which the network never learned); and a chroma-matched scale:
  ridge from the same inputs to the photo's true mean chroma, the ab
  scaled to it (at most 1); and 1 - P(neutral), a logistic probe on the
  same inputs for whether a photo is one of the neutral folder's. The
  inputs may also be the pooled maps of the same encoder as ImageNet left
  it (imagenet), which never learned these photos. The mean least-squares
  scale per folder, on the photos fitted on and on the held-out ones, is
  written beside the rows: the network has learned the former, so a gap
  says the fit is biased;
- the oracle: each held-out photo's own least-squares scale
  <ab, truth> / <ab, ab>, clipped to [0, 1] and to [0, 1.5], which no
  decoding can beat with one number a photo.

With --evidence_only it writes instead, per folder of the held-out photos,
the scene gate's evidence m at --adjustment (at 1, the quantity
`classification.scene_chroma_loss` trains) beside each photo's true mean
chroma t: their means, the mean of (m - t)^2 and their correlation.

Each is scored at the working size in ab (mean squared error of the
decoded against the true ab, as a gain in dB over gray's a = b = 0, averaged
over photos, per folder, and the share of photos below gray) with the share
of the truth's mean chroma it keeps. The PSNR that `colorjax.tune` measures
is on RGB at the photo's size; this is the same comparison at the working
size, so compare rows with each other. Writes the rows with the machine,
versions and date to --out.
"""

import os
import random
import sys
import types

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from sklearn import ensemble
from sklearn import linear_model
from sklearn import metrics

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from colorjax import classification  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import color  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import colorize  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import efficientnet  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import images  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import inference  # pylint: disable=g-import-not-at-top,wrong-import-position
from colorjax import sources  # pylint: disable=g-import-not-at-top,wrong-import-position
import common  # pylint: disable=g-import-not-at-top,wrong-import-position


def _define_flags():
  """The command's flags; defined only when this file runs as the program (tests
  import it)."""
  return types.SimpleNamespace(
      checkpoint=flags.DEFINE_string('checkpoint', None, 'A run of an encoder U-Net, either '
                                     'head (its held-out and training photos come from its '
                                     'config).'),
      adjustment=flags.DEFINE_float('adjustment', 0.8, 'The decoding: logit adjustment.'),
      temperature=flags.DEFINE_float('temperature', 0.38, 'The decoding: temperature.'),
      scene_chromas=flags.DEFINE_list('scene_chromas', ['6', '10', '14'], 'Scene gates.'),
      train_photos=flags.DEFINE_integer('train_photos', 1500, 'Training photos of the '
                                        'folders other than the neutral one to fit on.'),
      ridges=flags.DEFINE_list('ridges', ['10', '1000'], 'Ridge penalties of the learned scale.'),
      feature_sets=flags.DEFINE_list('feature_sets', ['pooled'], "The learned scale's inputs, "
                                     'each a set of pooled (the feature maps averaged over '
                                     'the photo), spread (their standard deviation over it), '
                                     'lightness (statistics of L) and imagenet (the mean and '
                                     'spread of the ImageNet encoder\'s maps) joined by +.'),
      cross_fit=flags.DEFINE_integer('cross_fit', 0, 'With K > 1, also fit the ridge (the '
                                     'last of --ridges) K-fold on the held-out photos '
                                     'themselves, which the network never learned: whether '
                                     'the features hold the scale at all.'),
      boosted=flags.DEFINE_bool('boosted', False, 'Also learn the scale with gradient-'
                                'boosted trees (scikit-learn) on each feature set.'),
      resolution=flags.DEFINE_integer('resolution', 128, 'Working resolution.'),
      evidence_only=flags.DEFINE_bool('evidence_only', False, 'Only compare the scene '
                                      "gate's evidence with the true mean chroma, per folder."),
      out=flags.DEFINE_string('out', 'benchmarks/results/scene_scale.json', 'Where to write JSON.'))


def least_squares_scale(ab, truth) -> float:
  """The s that minimises |s ab - truth|^2 (0 for ab = 0)."""
  return float(np.sum(ab * truth) / max(float(np.sum(ab * ab)), 1e-6))


def ridge(features, targets, penalty: float):
  """Weights w of min |features w - targets|^2 + penalty |w|^2."""
  gram = features.T @ features + penalty * np.eye(features.shape[1])
  return np.linalg.solve(gram, features.T @ targets)


def score(photos: list[dict], scales) -> dict:
  """Gain over gray in dB (ab, working size), per photo averaged, per folder,
  the share of photos below gray, and the share of the truth's chroma kept,
  for each photo's ab times its scale."""
  gains, chroma, folders = [], 0.0, {}
  for photo, scale in zip(photos, scales):
    ab, truth = photo['ab'] * scale, photo['truth']
    gain = 10 * np.log10((np.mean(truth**2) + 1e-3) / (np.mean((ab - truth)**2) + 1e-3))
    gains.append(gain)
    folders.setdefault(photo['folder'], []).append(gain)
    chroma += float(np.linalg.norm(ab, axis=-1).mean())
  truth_chroma = sum(float(np.linalg.norm(p['truth'], axis=-1).mean()) for p in photos)
  return {'gain_db': float(np.mean(gains)), 'below_gray': float(np.mean(np.array(gains) < 0)),
          'chroma_share': chroma / truth_chroma,
          **{f'gain_db_{name}': float(np.mean(g)) for name, g in sorted(folders.items())}}


def lightness_statistics(lightness) -> np.ndarray:
  """A photo's normalised lightness in numbers: its mean, spread, 5th to 95th
  percentiles and the mean size of its gradient (how textured it is)."""
  gradient = np.abs(np.diff(lightness, axis=0)).mean() + np.abs(np.diff(lightness, axis=1)).mean()
  return np.concatenate([[lightness.mean(), lightness.std(), gradient],
                         np.percentile(lightness, [5, 25, 50, 75, 95])]).astype(np.float32)


class Photos:
  """The decoded and true ab of photos at the working size, with the scene
  gate's mean chroma and the features a scale is learned from (FEATURES)."""

  def __init__(self, path: str, adjustment: float, temperature: float, resolution: int,
               imagenet: bool = False):
    model, self.variables, info = inference.load_model(path, adjustment=adjustment,
                                                       temperature=temperature)
    if info['config']['model']['name'] != 'encoder_unet':
      raise app.UsageError(f'{path} is not an encoder U-Net; name a run of '
                           'configs/photos_encoder.py.')
    self.config, self.resolution = info['config'], resolution
    self.folder = sources.folder_of(self.config, None)
    classifies = isinstance(model, classification.Decoded)
    net = model.model if classifies else model
    # What the rows were decoded with, for the record (a regression run has no decoding).
    self.decoding = {'adjustment': adjustment, 'temperature': temperature} if classifies else {}

    def run(variables, l):
      logits, state = net.apply(variables, l, train=False,
                                capture_intermediates=lambda m, _: m.name == 'encoder')
      features = state['intermediates']['encoder']['__call__'][0]
      return (logits, jnp.concatenate([f.mean((1, 2)) for f in features], -1),
              jnp.concatenate([f.std((1, 2)) for f in features], -1))

    self._run = jax.jit(run)
    self._imagenet = None
    if imagenet:  # Only when a feature set reads it: a second encoder on every photo.
      # The same encoder as ImageNet left it, never trained on these photos:
      # its pooled features of the gray photo (L copied to its 3 channels).
      variant = self.config['model'].get('encoder', 'lite0')
      encoder = efficientnet.EfficientNetLite(variant, num_classes=0)
      encoder_variables = efficientnet.pretrained_variables(variant, num_classes=0)

      def pooled_imagenet(l):
        features = encoder.apply(encoder_variables, jnp.repeat(l, 3, -1), train=False)
        return jnp.concatenate([f.mean((1, 2)) for f in features]
                               + [f.std((1, 2)) for f in features], -1)

      self._imagenet = jax.jit(pooled_imagenet)
    self._lab = jax.jit(color.rgb_to_lab)
    if classifies:
      self._decode = jax.jit(model.decode)
      # The scene gate's m, from the adjusted logits as `Decoded.decode` gives it.
      self._gate_chroma = jax.jit(lambda logits: classification.mean_chroma(
          logits.astype(jnp.float32) - model.adjustment * model.log_weights, model.bins))
    else:  # The network's own ab, and their mean chroma as the evidence.
      self._decode = lambda ab: ab
      self._gate_chroma = jax.jit(lambda ab: jnp.linalg.norm(
          ab.astype(jnp.float32) * color.AB_SCALE, axis=-1).mean((1, 2)))

  def split(self, name: str) -> list[str]:
    return sorted(set(sources.open_source(ml_collections.ConfigDict(self.config['data']),
                                          name).paths))

  def __call__(self, paths: list[str]) -> list[dict]:
    rows = []
    for path in paths:
      rgb = images.FileSource([path]).load(0)
      height, width = colorize.working_size(*rgb.shape[:2], self.resolution)
      small = np.clip(np.round(images.resize(rgb[None].astype(np.float32), height, width)),
                      0, 255).astype(np.uint8)
      lab = self._lab(small)
      l = np.asarray(color.normalize(lab)[0])
      padded = colorize.pad(l, colorize.bucket(height), colorize.bucket(width))
      logits, pooled, spread = self._run(self.variables, padded)
      logits = logits[:, :height, :width]
      ab = np.asarray(self._decode(logits))[0] * color.AB_SCALE
      gate_chroma = float(self._gate_chroma(logits)[0])
      rows.append({'folder': sources.folder_name(self.folder(path)),
                   'pooled': np.asarray(pooled)[0], 'spread': np.asarray(spread)[0],
                   'lightness': lightness_statistics(l[0, ..., 0]), 'ab': ab.reshape(-1, 2),
                   'truth': np.asarray(lab)[0, ..., 1:].reshape(-1, 2),
                   'gate_chroma': gate_chroma})
      if self._imagenet is not None:
        rows[-1]['imagenet'] = np.asarray(self._imagenet(padded))[0]
    return rows


def evidence(photos: list[dict]) -> list[dict]:
  """Per folder and for all photos: the scene gate's evidence m against the
  true mean chroma t (LAB units), their means, the mean of (m - t)^2 and
  their correlation."""
  groups = {'all': photos}
  for photo in photos:
    groups.setdefault(photo['folder'], []).append(photo)
  rows = []
  for name, group in sorted(groups.items(), key=lambda item: item[0] != 'all'):
    m = np.array([p['gate_chroma'] for p in group])
    t = np.array([np.linalg.norm(p['truth'], axis=-1).mean() for p in group])
    correlation = float(np.corrcoef(m, t)[0, 1]) if len(group) > 1 else float('nan')
    rows.append({'folder': name, 'photos': len(group), 'evidence': float(m.mean()),
                 'true_chroma': float(t.mean()), 'squared_gap': float(np.mean((m - t)**2)),
                 'correlation': correlation})
  return rows


FEATURES = ('pooled', 'spread', 'lightness', 'imagenet')


def raw_features(photos: list[dict], parts) -> np.ndarray:
  """Each photo's features of the named `parts` (of FEATURES), side by side."""
  return np.stack([np.concatenate([p[part] for part in parts]) for p in photos])


def design(photos: list[dict], mean, std, parts=('pooled',)):
  """The learned scale's inputs: the standardised features of `parts` (the
  encoder's feature maps averaged over the photo, their spread over it, the
  lightness statistics, the ImageNet encoder's maps' means and spreads),
  log(1 + the gate's mean chroma), log(1 + the decoded mean chroma) and 1."""
  extra = np.stack([np.log1p([p['gate_chroma'] for p in photos]),
                    np.log1p(mean_chroma(photos, 'ab')), np.ones(len(photos))], 1)
  return np.concatenate([(raw_features(photos, parts) - mean) / std, extra], 1)


def designs(fit: list[dict], others: list[dict], parts):
  """`design` of the photos fitted on and of the others, both standardised
  by the former's mean and spread."""
  raw = raw_features(fit, parts)
  mean, std = raw.mean(0), raw.std(0) + 1e-6
  return design(fit, mean, std, parts), design(others, mean, std, parts)


def cross_fitted(photos: list[dict], parts, targets, folds: int, penalty: float):
  """Each photo's scale predicted by a ridge fitted on the other folds' photos
  (every folds-th photo in a fold), with their standardisation."""
  predictions = np.zeros(len(photos))
  for fold in range(folds):
    test = np.arange(len(photos)) % folds == fold
    train_design, test_design = designs([p for p, t in zip(photos, test) if not t],
                                        [p for p, t in zip(photos, test) if t], parts)
    predictions[test] = test_design @ ridge(train_design, targets[~test], penalty)
  return predictions


def neutral_probability(fit_design, neutral, held_out_design) -> np.ndarray:
  """P(a photo is of the neutral folder) by logistic regression (L2, C 0.01)
  on the photos fitted on, for the held-out photos."""
  probe = linear_model.LogisticRegression(C=0.01, max_iter=2000)
  return probe.fit(fit_design, neutral).predict_proba(held_out_design)[:, 1]


def roc_auc(scores, positive) -> float:
  """The area under the ROC curve of `scores` for the boolean `positive`
  (nan when one class is missing)."""
  positive = np.asarray(positive, bool)
  if positive.all() or not positive.any():
    return float('nan')
  return float(metrics.roc_auc_score(positive, scores))


def mean_chroma(photos: list[dict], key: str) -> np.ndarray:
  """Each photo's mean chroma of its `key` ab ('ab' or 'truth'), LAB units."""
  return np.array([np.linalg.norm(p[key], axis=-1).mean() for p in photos])


def per_folder_mean(photos: list[dict], values) -> dict:
  """The mean of `values` (one a photo) over each folder's photos."""
  folders = {}
  for photo, value in zip(photos, values):
    folders.setdefault(photo['folder'], []).append(value)
  return {name: float(np.mean(v)) for name, v in sorted(folders.items())}


def main(args):
  if not args.checkpoint.value:
    raise app.UsageError('Pass the run with --checkpoint=RUN_DIR.')
  if args.cross_fit.value == 1 or args.cross_fit.value < 0:
    raise app.UsageError(f'--cross_fit={args.cross_fit.value} cannot fit anything; pass 0 '
                         '(none) or a number of folds from 2.')
  feature_sets = [parts.split('+') for parts in args.feature_sets.value]
  for parts in feature_sets:
    if not set(parts) <= set(FEATURES):
      raise app.UsageError(f'--feature_sets names {"+".join(parts)}; join parts of '
                           f'{", ".join(FEATURES)} by +, e.g. pooled+lightness.')
  environment = common.environment()
  photos = Photos(args.checkpoint.value, args.adjustment.value, args.temperature.value,
                  args.resolution.value,
                  imagenet=any('imagenet' in parts for parts in feature_sets))
  if args.evidence_only.value:
    held_out = photos(photos.split('eval'))
    rows = evidence(held_out)
    environment.update(checkpoint=args.checkpoint.value, **photos.decoding,
                       held_out_photos=len(held_out))
    common.write(args.out.value, environment, rows)
    print(common.markdown(rows, list(rows[0])))
    print(f'Wrote {args.out.value}.')
    return
  training = photos.split('train')
  neutral = [p for p in training if sources.folder_name(photos.folder(p)) == 'train_neutral']
  others = sorted(set(training) - set(neutral))
  random.Random(0).shuffle(others)
  fit, held_out = photos(neutral + others[:args.train_photos.value]), photos(photos.split('eval'))
  targets = np.array([least_squares_scale(p['ab'], p['truth']) for p in fit]).clip(0, 1.5)
  oracle = np.array([least_squares_scale(p['ab'], p['truth']) for p in held_out])
  rows = [{'scale': 'none', **score(held_out, np.ones(len(held_out)))}]
  for chroma in args.scene_chromas.value:
    gates = [min(1.0, p['gate_chroma'] / float(chroma)) for p in held_out]
    rows.append({'scale': f'scene gate {chroma}', **score(held_out, gates)})
  # What the chroma-matched scale and the neutral probe learn and are scored by.
  fit_chroma, held_out_chroma = mean_chroma(fit, 'truth'), mean_chroma(held_out, 'truth')
  held_out_ab_chroma = mean_chroma(held_out, 'ab')
  fit_neutral = np.array([p['folder'] == 'train_neutral' for p in fit])
  is_neutral = np.array([p['folder'] == 'train_neutral' for p in held_out])
  for parts in feature_sets:
    fit_design, held_out_design = designs(fit, held_out, parts)
    for penalty in args.ridges.value:
      learned = held_out_design @ ridge(fit_design, targets, float(penalty))
      rows.append({'scale': f'learned from {"+".join(parts)}, ridge {penalty}',
                   **score(held_out, learned.clip(0, 1)),
                   'correlation_with_oracle': float(np.corrcoef(learned, oracle)[0, 1])})
      # Or learn the photo's true mean chroma, and scale the ab to it.
      weights = ridge(fit_design, np.log1p(fit_chroma), float(penalty))
      chroma = np.expm1(held_out_design @ weights).clip(0)
      matched = chroma / np.maximum(held_out_ab_chroma, 1e-6)
      rows.append({'scale': f'matched to the chroma learned from {"+".join(parts)}, '
                            f'ridge {penalty}', **score(held_out, matched.clip(0, 1)),
                   'correlation_with_oracle': float(np.corrcoef(matched, oracle)[0, 1]),
                   'chroma_correlation': float(np.corrcoef(
                       np.log1p(chroma), np.log1p(held_out_chroma))[0, 1])})
    # Or learn whether the photo is one of the neutral folder's, and keep
    # the colour the probe does not take for neutral.
    if 0 < fit_neutral.sum() < len(fit_neutral):  # Both kinds to learn from.
      probability = neutral_probability(fit_design, fit_neutral, held_out_design)
      rows.append({'scale': f'1 - P(neutral) learned from {"+".join(parts)}',
                   **score(held_out, 1 - probability),
                   'correlation_with_oracle': float(np.corrcoef(1 - probability, oracle)[0, 1]),
                   'neutral_auc': roc_auc(probability, is_neutral)})
    if args.boosted.value:  # A nonlinear learner on the same inputs.
      boosted = ensemble.HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05,
                                                       random_state=0)
      learned = boosted.fit(fit_design, targets).predict(held_out_design)
      rows.append({'scale': f'learned from {"+".join(parts)}, boosted trees',
                   **score(held_out, learned.clip(0, 1)),
                   'correlation_with_oracle': float(np.corrcoef(learned, oracle)[0, 1])})
    if args.cross_fit.value:  # Fitted on held-out photos the network never learned.
      learned = cross_fitted(held_out, parts, oracle.clip(0, 1.5), args.cross_fit.value,
                             float(args.ridges.value[-1]))
      rows.append({'scale': f'learned from {"+".join(parts)}, ridge {args.ridges.value[-1]}, '
                            f'{args.cross_fit.value}-fold on the held-out photos',
                   **score(held_out, learned.clip(0, 1)),
                   'correlation_with_oracle': float(np.corrcoef(learned, oracle)[0, 1])})
  for top in (1.0, 1.5):
    rows.append({'scale': f'oracle, at most {top}', **score(held_out, oracle.clip(0, top))})
  # Were the photos fitted on the ones the network learned, its colours there
  # would be righter than on the held-out photos, and their scales larger.
  environment.update(checkpoint=args.checkpoint.value, **photos.decoding, fitted_on=len(fit),
                     held_out_photos=len(held_out),
                     mean_scale_fitted_on=per_folder_mean(fit, targets),
                     mean_scale_held_out=per_folder_mean(held_out, oracle.clip(0, 1.5)))
  print('Mean least-squares scale per folder (at most 1.5), fitted on:',
        environment['mean_scale_fitted_on'], 'held out:', environment['mean_scale_held_out'])
  common.write(args.out.value, environment, rows)
  columns = ['scale', 'gain_db', *sorted(k for k in rows[0] if k.startswith('gain_db_')),
             'below_gray', 'chroma_share', 'correlation_with_oracle', 'chroma_correlation',
             'neutral_auc']
  print(f'{len(held_out)} held-out photos, fitted on {len(fit)} training photos:')
  print(common.markdown(rows, columns))
  print(f'Wrote {args.out.value}.')


if __name__ == '__main__':
  _args = _define_flags()
  app.run(lambda argv: main(_args))

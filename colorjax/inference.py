"""A checkpoint as a model: the network and variables for inference, and
the export that keeps only what inference needs.

Above `colorjax.tasks` (a checkpoint's task rebuilds its network and decodes
its output) and `colorjax.checkpoint` (storage: save, restore and load the
arrays and config of a run), which import neither this nor each other's
users: the layers read top-down.
"""

import os

import jax
import orbax.checkpoint as ocp

from colorjax import checkpoint
from colorjax import tasks


def load_model(path: str, *, dtype=None, temperature: float | None = None,
               adjustment: float | None = None, confidence: float | None = None,
               scene_chroma: float | None = None, saturation: float | None = None,
               **propagation):
  """The network and variables of a checkpoint, ready for inference.

  Args:
    path: a run directory or a step directory (see `checkpoint.step_dir`).
    dtype: computation dtype (default float32, whatever the run trained in).
    temperature: annealed-mean temperature of a classification model
      (default: its stored config's).
    adjustment: logit adjustment of a classification model (default: its
      stored config's); see `classification.Decoded`.
    confidence: confidence weighting of a classification model (default: its
      stored config's, 0: off); see `classification.Decoded`.
    scene_chroma: the scene gate of a classification model (default: its
      stored config's, 0: off); see `classification.Decoded`.
    saturation: chroma gain on the ab of either head (default: its stored
      config's, 1); see `tasks.base.Saturated`.
    **propagation: hint_spread, hint_lightness, hint_reach, hint_method of a
      hint-conditioned model (default: its stored config's; none stored:
      off); see `hints.propagate`.

  Returns:
    (model, variables, info): `model.apply(variables, l, train=False)` gives
    normalised ab whatever the task (see `colorjax.tasks`); info has the
    checkpoint's 'step', 'path' and the 'config' dict of its run.
  """
  state, config = checkpoint.load(path)
  state = jax.tree.map(  # Exports may store bfloat16.
      lambda x: x.astype(jax.numpy.float32) if x.dtype == jax.numpy.bfloat16 else x,
      state)
  model = tasks.inference_model(config, dtype=dtype or jax.numpy.float32,
                                temperature=temperature, adjustment=adjustment,
                                confidence=confidence, scene_chroma=scene_chroma,
                                saturation=saturation, **propagation)
  variables = {'params': state['params'], 'batch_stats': state['batch_stats']}
  return model, variables, {'step': int(state['step']), 'config': config,
                            'path': checkpoint.step_dir(path)}


def export(path: str, destination: str, *, bfloat16: bool = False,
           temperature: float | None = None, adjustment: float | None = None,
           confidence: float | None = None, scene_chroma: float | None = None,
           saturation: float | None = None, **propagation) -> str:
  """Writes a checkpoint's inference part (params, batch_stats, step, config)
  to `destination`, a folder that `load_model` reads like a step directory.

  Drops the optimiser state (twice the parameters' size) and, for a GAN run,
  the discriminator. With bfloat16, floating-point arrays are stored in
  bfloat16 (half the size); `load_model` computes in float32 all the same.
  A classification model's `temperature`, `adjustment`, `confidence` and
  `scene_chroma`, any model's `saturation`, and a hint-conditioned model's
  propagation (hint_spread, hint_lightness, hint_reach, hint_method), when given, become
  its stored defaults (e.g. those `colorjax.tune` chose).

  Raises:
    ValueError: decoding settings for a regression model, or ones it cannot use.
  """
  state, config = checkpoint.load(path)
  task = tasks.of(config)
  settings = {k: float(v) for k, v in (('temperature', temperature),
              ('adjustment', adjustment), ('confidence', confidence),
              ('scene_chroma', scene_chroma),
              ('saturation', saturation)) if v is not None}
  unusable = sorted(set(settings) - set(task.decoding))
  if unusable:
    raise ValueError(f'{path} holds a {task.name} model, which takes no '
                     f'{" or ".join(unusable)}; it decodes with '
                     f'{", ".join(task.decoding)} only.')
  task.store_decoding(config, settings)
  for key, value in propagation.items():
    if value is not None:
      config.setdefault('hints', {})[key] = value if key == 'hint_method' else float(value)
  tasks.inference_model(config)  # Checks the settings before anything is written.
  destination = os.path.abspath(destination)
  inference = {k: state[k] for k in ('params', 'batch_stats', 'step')}
  if bfloat16:
    inference = jax.tree.map(
        lambda x: x.astype(jax.numpy.bfloat16)
        if jax.numpy.issubdtype(x.dtype, jax.numpy.floating) else x, inference)
  with ocp.StandardCheckpointer() as checkpointer:  # Waits for the async save.
    checkpointer.save(os.path.join(destination, 'state'), inference)
  ocp.Checkpointer(ocp.JsonCheckpointHandler()).save(
      os.path.join(destination, 'config'), config)
  return destination

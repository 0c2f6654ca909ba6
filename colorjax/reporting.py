"""What a training run reports: console lines, TensorBoard events, and
eval_metrics.jsonl with image grids (process 0 writes; every process logs)."""

import contextlib
import json
import os
import time

from absl import logging
import jax
import numpy as np
from PIL import Image
from tensorboardX import SummaryWriter


def image_grid(gray: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
  """Rows of gray input | prediction | ground truth, uint8 [rows * h, 3 * w, 3]."""
  return np.concatenate([np.concatenate(row, axis=1) for row in zip(gray, pred, truth)])


def format_duration(seconds: float) -> str:
  """H:MM:SS, with days in front when there are any ('2d 01:00:00')."""
  days, rest = divmod(int(round(seconds)), 86_400)
  hours, rest = divmod(rest, 3_600)
  text = f'{hours:02d}:{rest // 60:02d}:{rest % 60:02d}'
  return f'{days}d {text}' if days else text


class Reporter:
  """Console progress lines, TensorBoard events, train_metrics.jsonl and
  eval_metrics.jsonl (process 0).

  The img/s and ETA count training steps only: the clock starts once the
  run's first step (which compiles) has finished, and the time spent in
  `paused()` blocks (evaluation, checkpoints) is left out.
  """

  def __init__(self, workdir: str, total_steps: int, batch_size: int):
    self.workdir, self.total_steps, self.batch_size = workdir, total_steps, batch_size
    self.active = jax.process_index() == 0
    self.writer = None
    if self.active:
      self.writer = SummaryWriter(workdir)
    self.clock_step, self.clock_time, self.paused_seconds = None, 0.0, 0.0

  def start_clock(self, step: int, ready) -> None:
    """Starts timing once `ready` (the outputs of step `step`) are computed."""
    jax.block_until_ready(ready)
    self.clock_step, self.clock_time, self.paused_seconds = step, time.time(), 0.0

  @contextlib.contextmanager
  def paused(self, ready):
    """Keeps the block's time out of the rate; `ready` (the train state) is
    waited for first, so that queued training steps count as training."""
    jax.block_until_ready(ready)
    start = time.time()
    try:
      yield
    finally:
      self.paused_seconds += time.time() - start

  def train(self, step: int, metrics: dict[str, float]) -> None:
    """Logs a training line; the metrics were fetched, so step `step` is done."""
    rate = None
    if self.clock_step is not None and step > self.clock_step:
      seconds = time.time() - self.clock_time - self.paused_seconds
      rate = (step - self.clock_step) * self.batch_size / max(seconds, 1e-9)
      self.clock_step, self.clock_time, self.paused_seconds = step, time.time(), 0.0
    speed = 'first step (compiling)'
    if rate is not None:
      eta = (self.total_steps - step) * self.batch_size / max(rate, 1e-9)
      speed = f'{rate:.1f} img/s | ETA {format_duration(eta)}'
    gan_part = ''
    if 'discriminator_loss' in metrics:  # How the two networks stand.
      gan_part = (f' | L1 {metrics["generator_l1"]:.4f} | D loss '
                  f'{metrics["discriminator_loss"]:.3f}, real '
                  f'{metrics["discriminator_real"]:.2f}, fake '
                  f'{metrics["discriminator_fake"]:.2f}')
    logging.info('step %d/%d | loss %.5f%s | %s', step, self.total_steps,
                 metrics['loss'], gan_part, speed)
    scalars = dict(metrics) if rate is None else {**metrics, 'images_per_second': rate}
    self._scalars(step, scalars, 'train')
    if self.active:  # Readable without TensorBoard, e.g. to plot the loss.
      with open(os.path.join(self.workdir, 'train_metrics.jsonl'), 'a') as f:
        f.write(json.dumps({'step': step, **{k: float(v) for k, v in scalars.items()}}) + '\n')

  def eval(self, step: int, metrics: dict[str, float], grid) -> None:
    logging.info('eval at step %d: %s', step,
                 ', '.join(f'{k} {v:.4f}' for k, v in metrics.items()))
    self._scalars(step, metrics, 'eval')
    if not self.active:
      return
    with open(os.path.join(self.workdir, 'eval_metrics.jsonl'), 'a') as f:
      f.write(json.dumps({'step': step, **metrics}) + '\n')
    if grid is not None:
      os.makedirs(os.path.join(self.workdir, 'images'), exist_ok=True)
      Image.fromarray(grid).save(
          os.path.join(self.workdir, 'images', f'step_{step:07d}.png'))
      self.writer.add_image('eval/gray_pred_truth', grid, step, dataformats='HWC')

  def _scalars(self, step, metrics, prefix):
    if self.active:
      for k, v in metrics.items():
        self.writer.add_scalar(f'{prefix}/{k}', v, step)
      self.writer.flush()

  def close(self):
    if self.writer is not None:
      self.writer.close()

"""Colorize video clips and frame folders, with colour that holds from frame to frame.

  python -m colorjax.colorize clip.mp4 --out=DIR              # DIR/clip.mp4, audio copied
  python -m colorjax.colorize frames/ --frames --out=DIR      # DIR/frames/, one PNG a frame
  python -m colorjax.colorize clip.mp4 --video_output=frames --out=DIR   # DIR/clip/
  python -m colorjax.colorize clip.mp4 --notemporal --out=DIR # each frame on its own

  from colorjax import colorize, video
  colorizer = colorize.Colorizer.pretrained()
  video.colorize_video(colorizer, 'clip.mp4', 'out/clip.mp4')

Clips (MP4, MOV, MKV, WebM, AVI) are decoded and encoded by PyAV, which
brings its own FFmpeg: one frame at a time, so memory does not grow with
the clip's length. The output has the input's frame count, size and frame
rate, and its audio stream copied unchanged; it is written under a
`.partial` name and renamed when complete, so an interrupted run leaves no
half-written output under the final name. A frame folder is a folder whose
images (by name order) are the frames of one clip; it is told apart from a
folder of photos by `--frames` (photos are colorized one by one, as always).

Each frame is colorized at the working resolution and its colour is carried
along optical flow from the frames before (`colorjax.temporal`): the same
content keeps its colour, and it resets at scene cuts. Colour hints set on
one frame (`--hints` file keyed by frame number, {"clip.mp4": {"0": [{"x":
120, "y": 80, "rgb": [200, 30, 30]}]}}) follow their content along the same
flow until a cut, an occlusion or the picture's edge, so a colour is set
once for the whole shot.
"""

import dataclasses
import fractions
import os
import shutil
from typing import Iterator

from absl import logging
import numpy as np
import tqdm

from colorjax import hints as hints_lib
from colorjax import images
from colorjax import temporal
from colorjax.errors import DataError

VIDEO_EXTENSIONS = ('.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi')
VIDEO_OUTPUTS = ('same', 'frames', 'mp4', 'mov', 'mkv', 'webm', 'avi')
_FORMATS = {'.mp4': 'mp4', '.m4v': 'mp4', '.mov': 'mov', '.mkv': 'matroska',
            '.webm': 'webm', '.avi': 'avi'}
DEFAULT_FPS = 25
# Audio codecs each container takes as they are (None: any).
_AUDIO = {'webm': {'opus', 'vorbis'}, 'matroska': None,
          'mp4': {'aac', 'mp3', 'alac', 'opus', 'ac3', 'eac3', 'flac'},
          'mov': {'aac', 'mp3', 'alac', 'ac3', 'eac3'}, 'avi': {'mp3', 'aac', 'ac3', 'mp2'}}


def is_video(path: str) -> bool:
  return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def _av():
  import av  # pylint: disable=g-import-not-at-top  # Video only.
  # FFmpeg's messages are dropped by PyAV's default C callback, without the
  # GIL: any level set here would install its Python callback, which takes the
  # GIL for every error a decoder's frame threads log, and closing a decoder
  # mid-clip (which holds the GIL while it waits for those threads) could then
  # hang for ever (PyAV issue #909). Damaged data is reported in one sentence, below.
  av.logging.set_level(None)
  return av


@dataclasses.dataclass
class Clip:
  """An open clip: its frames (uint8 RGB, one at a time) and what the output keeps."""
  name: str
  fps: fractions.Fraction
  width: int
  height: int
  count: int | None  # Frames, as the file declares them (None: unknown).
  audio: object = None  # PyAV audio stream to copy, if any.
  frame_names: list | None = None  # A frame folder's file names.

  def __iter__(self) -> Iterator[tuple[str, object]]:
    raise NotImplementedError


class VideoClip(Clip):
  """A video file through PyAV: ('video', frame) and ('audio', packet) in file order."""

  def __init__(self, path: str):
    av = _av()
    try:
      self.container = av.open(path)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
      raise DataError(f'cannot be read as a video ({_reason(e)})') from None
    if not self.container.streams.video:
      self.container.close()
      raise DataError('holds no video stream')
    self.stream = self.container.streams.video[0]
    self.stream.thread_type = 'AUTO'
    rate = self.stream.average_rate or self.stream.guessed_rate or DEFAULT_FPS
    audio = self.container.streams.audio[0] if self.container.streams.audio else None
    super().__init__(os.path.basename(path), fractions.Fraction(rate).limit_denominator(1001),
                     self.stream.codec_context.width, self.stream.codec_context.height,
                     self.stream.frames or None, audio)
    if not self.width or not self.height:
      self.close()
      raise DataError('declares no frame size')

  def __iter__(self):
    av = _av()
    streams = [self.stream] + ([self.audio] if self.audio is not None else [])
    decoded = 0
    try:
      for packet in self.container.demux(*streams):
        if packet.stream is self.stream:
          for frame in packet.decode():
            decoded += 1
            yield 'video', frame.to_ndarray(format='rgb24')
        elif packet.dts is not None:
          yield 'audio', packet
    except av.error.FFmpegError as e:
      of = f' of its {self.count}' if self.count else ''
      raise DataError(f'is truncated or damaged: {decoded}{of} frames could be decoded '
                      f'({_reason(e)})') from None
    if not decoded:
      raise DataError('holds no decodable frame')
    if self.count and decoded < self.count - max(2, self.count // 100):
      raise DataError(f'is truncated: {decoded} of its {self.count} frames could be decoded')

  def close(self):
    self.container.close()


class FrameFolder(Clip):
  """A folder whose images, in name order, are the frames of one clip."""

  def __init__(self, path: str, fps=DEFAULT_FPS):
    names = sorted(n for n in os.listdir(path)
                   if os.path.splitext(n)[1].lower() in images.IMAGE_EXTENSIONS)
    if not names:
      raise DataError(f'holds no frames (looked for {", ".join(images.IMAGE_EXTENSIONS)})')
    self.path = path
    first = self._load(names[0])
    super().__init__(os.path.basename(os.path.normpath(path)),
                     fractions.Fraction(fps).limit_denominator(1001), first.shape[1],
                     first.shape[0], len(names), frame_names=names)
    self._first = first  # Decoded for the size; the first pass yields it, not a second decode.

  def _load(self, name):
    with open(os.path.join(self.path, name), 'rb') as f:
      try:
        return images.read_image(f.read())[0]
      except DataError as e:
        raise DataError(f'frame {name}: {e}') from None

  def __iter__(self):
    for index, name in enumerate(self.frame_names):
      if index == 0 and self._first is not None:
        rgb, self._first = self._first, None
      else:
        rgb = self._load(name)
      if rgb.shape[:2] != (self.height, self.width):
        raise DataError(f'frame {name} is {rgb.shape[1]}x{rgb.shape[0]}, not '
                        f'{self.width}x{self.height} as the first')
      yield 'video', rgb

  def close(self):
    pass


def open_clip(path: str, *, fps=DEFAULT_FPS) -> Clip:
  """A video file, or a frame folder (frames at `fps`).

  Raises:
    DataError: it cannot be read as a clip (one sentence).
  """
  if os.path.isdir(path):
    return FrameFolder(path, fps)
  return VideoClip(path)


def _reason(error) -> str:
  text = getattr(error, 'strerror', None) or str(error)
  return text.split(':')[-1].strip() or type(error).__name__


class VideoWriter:
  """Encodes uint8 RGB frames to `path` (container from its extension; H.264,
  VP9 for WebM), with audio packets copied from a source stream. Written to
  a `.partial` name, renamed by `close(complete=True)`, removed otherwise."""

  def __init__(self, path: str, fps, width: int, height: int, audio=None):
    av = _av()
    root, ext = os.path.splitext(path)
    if ext.lower() not in _FORMATS:
      raise ValueError(f'Cannot write video as {ext!r}; use one of {", ".join(VIDEO_EXTENSIONS)}.')
    self.path, self.partial = path, f'{root}.partial{ext}'
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    self.container = av.open(self.partial, 'w', format=_FORMATS[ext.lower()])
    even = width % 2 == 0 and height % 2 == 0
    if ext.lower() == '.webm':
      self.stream = self.container.add_stream('libvpx-vp9', rate=fps, options={
          'crf': '24', 'b': '0', 'deadline': 'realtime', 'cpu-used': '8', 'row-mt': '1'})
    else:
      self.stream = self.container.add_stream('libx264', rate=fps, options={
          'crf': '17', 'preset': 'veryfast'})
    self.stream.width, self.stream.height = width, height
    self.stream.pix_fmt = 'yuv420p' if even else 'yuv444p'  # 4:2:0 needs even sizes.
    self.audio_out = None
    if audio is not None:
      codec = audio.codec_context.name
      allowed = _AUDIO.get(_FORMATS[ext.lower()])
      if allowed is None or codec in allowed or codec.startswith('pcm_') and ext.lower() != '.webm':
        self.audio_out = self.container.add_stream_from_template(audio)
      else:
        logging.warning('%s: its %s sound cannot go into %s; written without sound.',
                        os.path.basename(path), codec, ext)
    self.frames = 0
    self._av = av

  def write(self, rgb: np.ndarray) -> None:
    frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format='rgb24')
    frame.pts = self.frames
    self.frames += 1
    for packet in self.stream.encode(frame):
      self.container.mux(packet)

  def write_audio(self, packet) -> None:
    if self.audio_out is not None:
      packet.stream = self.audio_out
      self.container.mux(packet)

  def close(self, complete: bool) -> None:
    try:
      if complete:
        for packet in self.stream.encode():
          self.container.mux(packet)
    finally:
      self.container.close()
      if complete:
        os.replace(self.partial, self.path)
      elif os.path.exists(self.partial):
        os.remove(self.partial)


class FrameWriter:
  """Writes frames as PNG (or JPEG) files into a folder, under a `.partial`
  name until `close(complete=True)`; named as the input's frames, or by index."""

  def __init__(self, path: str, names=None, fmt: str = 'png'):
    self.path, self.partial = path, path.rstrip(os.sep) + '.partial'
    shutil.rmtree(self.partial, ignore_errors=True)
    os.makedirs(self.partial)  # Its parent too.
    self.names, self.fmt, self.frames = names, fmt, 0

  def write(self, rgb: np.ndarray) -> None:
    stem = (os.path.splitext(self.names[self.frames])[0] if self.names
            else f'{self.frames:06d}')
    with open(os.path.join(self.partial, f'{stem}.{self.fmt}'), 'wb') as f:
      f.write(images.encode(rgb, None, self.fmt))
    self.frames += 1

  def write_audio(self, packet) -> None:
    del packet  # A folder of frames holds no sound.

  def close(self, complete: bool) -> None:
    if complete:
      shutil.rmtree(self.path, ignore_errors=True)
      os.replace(self.partial, self.path)
    else:
      shutil.rmtree(self.partial, ignore_errors=True)


def output_path(out_dir: str, clip_path: str, video_output: str) -> str:
  """Where a clip's output goes: a video named like the clip (container
  `video_output`, 'same' as the input, a frame folder's as MP4) or a folder
  of frames ('frames'; 'same' for a frame folder)."""
  base = os.path.basename(os.path.normpath(clip_path))
  stem, ext = os.path.splitext(base) if not os.path.isdir(clip_path) else (base, '')
  if video_output == 'frames' or (video_output == 'same' and not ext):
    return os.path.join(out_dir, stem)
  return os.path.join(out_dir, stem + (ext if video_output == 'same' else f'.{video_output}'))


def colorize_frames(colorizer, frames, resolution, *, stabilize: bool = True,
                    settings: temporal.Settings = temporal.Settings(), hints=None,
                    hint_size: int = hints_lib.DEFAULT_SIZE) -> Iterator[np.ndarray]:
  """Colorizes uint8 frames (an iterable of [h, w(, c)]) one at a time.

  Args:
    colorizer: a `colorize.Colorizer`.
    stabilize: carry colour along the flow (`temporal.Stabilizer`); False
      colorizes each frame on its own.
    hints: {frame index: [(x, y, (r, g, b)), ...]} for a hint-conditioned
      model; hints given at a frame are added to those carried there.

  Yields:
    uint8 RGB frames of the input's size.
  """
  hints = hints or {}
  if hints and not colorizer.hinted:
    raise ValueError('This model was not trained with colour hints; colorize '
                     'without hints, or use a hint-conditioned model.')
  # Flow is needed to stabilize, and to carry hints; without either, none is computed.
  stabilizer = None
  if stabilize or hints:
    stabilizer = temporal.Stabilizer(settings if stabilize else
                                     dataclasses.replace(settings, carry=0.0))
  carried = []
  for index, frame in enumerate(frames):
    rgb, _ = images.as_rgb_batch(frame)
    l = colorizer.lightness(rgb)
    height, width = l.shape[1:3]
    small = None
    if stabilizer is not None:
      small_h, small_w = colorizer.working_size(height, width, resolution)
      small = images.resize(l, small_h, small_w)
      stabilizer.observe(small[0])
      if hints:
        carried = stabilizer.track(carried, width / small_w, height / small_h)
        carried += [tuple(p) for p in hints.get(index, [])]
    given = None
    if carried:
      given = tuple(x[None] for x in hints_lib.from_points(l[0], carried, hint_size))
    _, ab = colorizer.predict_working(l, resolution, given, small=small)
    if stabilizer is not None:
      ab = stabilizer.stabilize(ab[0])[None]
    yield colorizer.compose(l, images.resize(ab, height, width))[0]


def colorize_video(colorizer, source: str, target: str, resolution=None, *,
                   stabilize: bool = True, settings: temporal.Settings = temporal.Settings(),
                   hints=None, fps=DEFAULT_FPS, log=None, desc: str | None = None) -> int:
  """Colorizes the clip `source` (a video file or a frame folder) into
  `target` (a video file, by its extension, or a folder of frames); returns
  the frame count. See `colorize_frames` for the arguments.

  Raises:
    DataError: the clip cannot be read, or is damaged or truncated (nothing
      is left under `target`).
  """
  resolution = colorizer.resolution if resolution is None else resolution
  clip = open_clip(source, fps=fps)
  try:
    if is_video(target):
      writer = VideoWriter(target, clip.fps, clip.width, clip.height, clip.audio)
    else:
      writer = FrameWriter(target, clip.frame_names)
    complete = False
    try:
      events = iter(clip)
      bar = tqdm.tqdm(total=clip.count, desc=desc or clip.name, unit='frame', file=log,
                      disable=None, dynamic_ncols=True, leave=False)

      def video_frames():
        for kind, item in events:
          if kind == 'audio':
            writer.write_audio(item)
          else:
            yield item

      for rgb in colorize_frames(colorizer, video_frames(), resolution, stabilize=stabilize,
                                 settings=settings, hints=hints):
        writer.write(rgb)
        bar.update()
      bar.close()
      complete = True
    finally:
      writer.close(complete)
  finally:
    clip.close()
  return writer.frames


def read_frames(path: str, limit: int | None = None) -> list[np.ndarray]:
  """The first `limit` frames of a clip (all by default) as uint8 RGB, for
  tests and benchmarks; memory grows with `limit`."""
  clip = open_clip(path)
  frames = []
  try:
    for kind, item in clip:
      if kind == 'video':
        frames.append(item)
        if limit and len(frames) >= limit:
          break
  finally:
    clip.close()
  return frames


def write_frames(path: str, frames, fps=DEFAULT_FPS) -> None:
  """Encodes uint8 RGB frames as a clip at `path` (for tests and benchmarks)."""
  frames = list(frames)
  if is_video(path):
    writer = VideoWriter(path, fractions.Fraction(fps).limit_denominator(1001),
                         frames[0].shape[1], frames[0].shape[0])
  else:
    writer = FrameWriter(path)
  complete = False
  try:
    for frame in frames:
      writer.write(frame)
    complete = True
  finally:
    writer.close(complete)


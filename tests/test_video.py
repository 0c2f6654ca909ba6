"""Video: clips in and out through PyAV, colour carried along the flow, hints
that follow their object, cuts, and the bad inputs, on clips the tests make
or cut from ../shared/data/video."""

import fractions
import os
import tracemalloc

import numpy as np
from PIL import Image
import pytest
import skimage.data

from colorjax import color
from colorjax import colorize
from colorjax import images
from colorjax import inference
from colorjax import temporal
from colorjax import video
from colorjax.errors import DataError
from tests.conftest import REPO
from tests.conftest import run_module

av = pytest.importorskip('av')
CLIPS = os.path.join(REPO, '..', 'shared', 'data', 'video')
BIKES = os.path.join(CLIPS, 'skv_bikes', 'bikes.mp4')


def pan(count: int, step=(0, 2), size=(96, 128), photo=None):
  """Frames of a still photo seen through a window moving `step` (dy, dx)
  whole pixels a frame."""
  photo = skimage.data.chelsea() if photo is None else photo
  dy, dx = step
  return [np.ascontiguousarray(photo[40 + dy * t:40 + dy * t + size[0],
                                     60 + dx * t:60 + dx * t + size[1]]) for t in range(count)]


@pytest.fixture(scope='module')
def tiny(tiny_run):
  model, variables, _ = inference.load_model(tiny_run)
  return colorize.Colorizer(model, variables, resolution=32)


def _mp4(path: str, frames, fps=25, audio: bool = True, options=None):
  """An MP4 of frames (H.264), with an AAC sine track of the same length."""
  container = av.open(path, 'w', options=options or {})
  stream = container.add_stream('libx264', rate=fps)
  stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], 'yuv420p'
  if audio:
    track = container.add_stream('aac', rate=16000)
    track.layout = 'mono'
    samples = int(16000 * len(frames) / fps)
    tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)
    for start in range(0, samples, 1024):
      frame = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format='fltp',
                                         layout='mono')
      frame.sample_rate, frame.pts = 16000, start
      for packet in track.encode(frame):
        container.mux(packet)
    for packet in track.encode():
      container.mux(packet)
  for index, rgb in enumerate(frames):
    frame = av.VideoFrame.from_ndarray(rgb, format='rgb24')
    frame.pts = index
    for packet in stream.encode(frame):
      container.mux(packet)
  for packet in stream.encode():
    container.mux(packet)
  container.close()


def _describe(path):
  with av.open(path) as container:
    stream = container.streams.video[0]
    frames = sum(1 for _ in container.decode(stream))
  with av.open(path) as container:
    audio = container.streams.audio
    audio_packets = sum(1 for p in container.demux(audio[0]) if p.dts is not None) if audio else 0
    stream = container.streams.video[0]
    return {'frames': frames, 'size': (stream.width, stream.height),
            'fps': fractions.Fraction(stream.average_rate), 'audio_packets': audio_packets,
            'audio_codec': audio[0].codec_context.name if audio else None}


def test_a_clip_keeps_its_frames_size_rate_and_audio(tiny, tmp_path):
  source = str(tmp_path / 'clip.mp4')
  _mp4(source, pan(20, size=(72, 98)), fps=fractions.Fraction(30000, 1001))
  for name in ('out.mp4', 'out.mkv'):
    assert video.colorize_video(tiny, source, str(tmp_path / name)) == 20
    before, after = _describe(source), _describe(str(tmp_path / name))
    assert after == before, name
    assert before['audio_packets'] > 10 and before['fps'] == fractions.Fraction(30000, 1001)
  # WebM takes no AAC: the clip comes out whole, without its sound.
  assert video.colorize_video(tiny, source, str(tmp_path / 'out.webm')) == 20
  assert _describe(str(tmp_path / 'out.webm'))['audio_packets'] == 0
  assert not [n for n in os.listdir(tmp_path) if 'partial' in n]


def test_odd_sizes_webm_and_frame_folders_round_trip(tiny, tmp_path):
  frames = pan(6, size=(51, 67))  # Odd: 4:4:4, since 4:2:0 needs even sizes.
  video.write_frames(str(tmp_path / 'odd.webm'), frames, fps=12)
  assert _describe(str(tmp_path / 'odd.webm'))['size'] == (67, 51)
  folder = tmp_path / 'frames'
  video.write_frames(str(folder), frames)
  assert sorted(os.listdir(folder)) == [f'{i:06d}.png' for i in range(6)]
  assert video.colorize_video(tiny, str(folder), str(tmp_path / 'out' / 'frames')) == 6
  out = video.read_frames(str(tmp_path / 'out' / 'frames'))
  assert len(out) == 6 and out[0].shape == (51, 67, 3)
  assert video.colorize_video(tiny, str(folder), str(tmp_path / 'as.mp4'), fps=12) == 6
  assert _describe(str(tmp_path / 'as.mp4'))['fps'] == 12


def test_a_frame_folder_decodes_each_frame_once(tmp_path, monkeypatch):
  frames = pan(3, size=(24, 32))
  video.write_frames(str(tmp_path / 'frames'), frames)
  decoded = []
  read_image = images.read_image
  monkeypatch.setattr(images, 'read_image',
                      lambda data, **kw: decoded.append(1) or read_image(data, **kw))
  clip = video.open_clip(str(tmp_path / 'frames'))
  out = [rgb for _, rgb in clip]
  assert len(decoded) == 3  # The first frame, read for the clip's size, is not decoded again.
  assert all(np.array_equal(a, b) for a, b in zip(out, frames))
  assert len([rgb for _, rgb in clip]) == 3  # A second pass reads the folder again.
  assert len(decoded) == 6


def test_memory_does_not_grow_with_the_clip(tiny, tmp_path):
  frames = pan(40, size=(120, 160), step=(1, 1))
  peaks = []
  for count in (8, 40):
    path = str(tmp_path / f'clip{count}.mp4')
    video.write_frames(path, frames[:count])
    list(video.colorize_frames(tiny, iter(video.read_frames(path, 2)), 32))  # Compiled.
    tracemalloc.start()
    video.colorize_video(tiny, path, str(tmp_path / f'out{count}.mp4'))
    peaks.append(tracemalloc.get_traced_memory()[1])
    tracemalloc.stop()
  # Holding the frames would make the 5x longer clip's peak about 5x higher.
  assert peaks[1] < 3 * peaks[0], peaks


def _chroma_flicker(outputs, step):
  """Mean |ab(t) - ab(t-1) shifted back| (LAB units) where the pan overlaps."""
  dy, dx = step
  ab = [np.asarray(color.rgb_to_lab(frame / 255.0))[..., 1:] for frame in outputs]
  h, w = ab[0].shape[:2]
  return float(np.mean([np.abs(ab[t][:h - dy, :w - dx] - ab[t - 1][dy:, dx:]).mean()
                        for t in range(1, len(ab))]))


@pytest.fixture(scope='module')
def bundled():
  return colorize.Colorizer.pretrained()


def test_carried_colour_flickers_less_on_a_panned_photo(bundled):
  step = (1, 3)
  frames = pan(12, step=step, size=(150, 200), photo=skimage.data.astronaut())
  alone = list(video.colorize_frames(bundled, frames, 64, stabilize=False))
  stable = list(video.colorize_frames(bundled, frames, 64))
  # Measured 2026-12-01: 0.42 of the per-frame flicker.
  assert _chroma_flicker(stable, step) < 0.9 * _chroma_flicker(alone, step)


def _block_ab(frame, k=8):
  """ab of an output frame averaged over k x k blocks (8-bit rounding of the
  output, which differs with the input's noisy L, averages out)."""
  ab = np.asarray(color.rgb_to_lab(frame / 255.0))[..., 1:]
  h, w = ab.shape[0] // k * k, ab.shape[1] // k * k
  return ab[:h, :w].reshape(h // k, k, w // k, k, 2).mean((1, 3))


def test_a_static_scene_keeps_its_colour(bundled):
  photo = skimage.data.coffee()[100:244, 100:292]
  rng = np.random.default_rng(0)
  frames = [np.clip(photo + rng.normal(0, 8, photo.shape), 0, 255).astype(np.uint8)
            for _ in range(10)]  # A still camera's noise.
  changes = {}
  for stabilize in (True, False):
    ab = [_block_ab(f) for f in video.colorize_frames(bundled, frames, 64, stabilize=stabilize)]
    changes[stabilize] = np.mean([np.abs(b - a).mean() for a, b in zip(ab[:-1], ab[1:])])
  # Measured 2026-12-01: 0.065 against 0.25 LAB units from frame to frame.
  assert changes[True] < 0.6 * changes[False] and changes[True] < 0.2, changes


def test_blending_keeps_chroma_where_hues_disagree():
  red, blue = np.array([[[0.5, 0.3]]], np.float32), np.array([[[-0.3, -0.5]]], np.float32)
  mixed = temporal.blend(red, blue, np.full((1, 1), 0.5, np.float32))
  assert np.linalg.norm(mixed) == pytest.approx(np.linalg.norm(red), rel=1e-5)
  assert np.allclose(temporal.blend(red, blue, np.zeros((1, 1), np.float32)), blue)


@pytest.mark.skipif(not os.path.exists(BIKES), reason='needs ../shared/data/video')
def test_the_five_cuts_of_bikes_are_found_and_nothing_else():
  stabilizer = temporal.Stabilizer()
  for rgb in video.read_frames(BIKES):
    small = images.scale_to_shorter(rgb, 128)
    l = np.asarray(color.normalize(color.rgb_to_lab(small / 255.0))[0])
    stabilizer(l, np.zeros(l.shape[:2] + (2,), np.float32))
  assert stabilizer.cuts == [30, 76, 137, 187, 242]


def test_tracked_points_follow_a_pan_and_drop_at_the_edge():
  step = (1, 4)
  frames = pan(10, step=step, size=(160, 240), photo=skimage.data.astronaut())
  stabilizer = temporal.Stabilizer()
  points = [(150.0, 80.0, (0, 200, 0)), (6.0, 100.0, (0, 0, 200))]  # The second leaves.
  for index, rgb in enumerate(frames):
    small = images.scale_to_shorter(rgb, 80)  # 120 x 80: 2x smaller.
    l = np.asarray(color.normalize(color.rgb_to_lab(small / 255.0))[0])
    stabilizer.observe(l)
    if index:
      points = stabilizer.track(points, 2.0, 2.0)
    stabilizer.stabilize(np.zeros(l.shape[:2] + (2,), np.float32))
  assert len(points) == 1
  x, y, rgb = points[0]
  # The content moved 4 px left and 1 up a frame: 36 and 9 after 9 frames.
  assert abs(x - (150 - 36)) < 3 and abs(y - (80 - 9)) < 3 and rgb == (0, 200, 0)


def test_a_hint_on_frame_0_holds_its_colour_as_the_camera_pans():
  colorizer = colorize.Colorizer.pretrained(hints=True)
  step = (0, 4)
  frames = pan(10, step=step, size=(160, 240), photo=skimage.data.astronaut())
  x, y = 150, 80  # On the astronaut's suit in frame 0; it moves 4 px left a frame.
  out = list(video.colorize_frames(colorizer, frames, 128, hints={0: [(x, y, (40, 200, 40))]}))
  moved = x - 9 * step[1]
  a = lambda rgb: np.asarray(color.rgb_to_lab(rgb[y - 2:y + 3, moved - 2:moved + 3] / 255.0))[
      ..., 1].mean()
  assert a(out[-1]) < -15  # Green on the last frame, where the hinted content went...
  assert a(colorizer.colorize(frames[-1], 128)) > -5  # ...which the network alone paints not.


def test_opening_a_clip_keeps_ffmpeg_logging_off_the_gil(tmp_path):
  """PyAV's Python log callback takes the GIL for each message a decoder's
  frame threads log; closing a decoder mid-clip, which holds the GIL while
  it waits for them, then hung the suite once. PyAV's default drops the
  messages in C, and opening a clip must leave it so."""
  import av  # pylint: disable=g-import-not-at-top
  video.write_frames(str(tmp_path / 'clip.mp4'), pan(3, size=(32, 48)))
  av.logging.set_level(av.logging.ERROR)  # As another library might.
  video.open_clip(str(tmp_path / 'clip.mp4')).close()
  assert av.logging.get_level() is None


def test_bad_clips_get_one_sentence_and_leave_nothing(tiny, tmp_path):
  (tmp_path / 'garbage.mp4').write_bytes(b'not a video at all' * 100)
  frames = pan(30, size=(64, 96))
  # The index first (faststart), so that a cut file still opens.
  _mp4(str(tmp_path / 'whole.mp4'), frames, audio=False, options={'movflags': 'faststart'})
  data = (tmp_path / 'whole.mp4').read_bytes()
  (tmp_path / 'cut.mp4').write_bytes(data[:len(data) * 2 // 3])
  (tmp_path / 'empty').mkdir()
  sizes = tmp_path / 'sizes'
  video.write_frames(str(sizes), frames[:3])
  images_ = video.read_frames(str(sizes))
  with open(sizes / '000003.png', 'wb') as f:
    f.write(images.encode(images_[0][:32], None, 'png'))
  cases = {'garbage.mp4': 'cannot be read as a video', 'cut.mp4': 'truncated',
           'empty': 'holds no frames', 'sizes': 'frame 000003.png is 96x32, not 96x64'}
  for name, message in cases.items():
    target = str(tmp_path / 'out' / (name if 'mp4' in name else name + '_out'))
    with pytest.raises(DataError, match=message):
      video.colorize_video(tiny, str(tmp_path / name), target)
    assert not os.path.exists(target)
  assert not [n for n in os.listdir(tmp_path / 'out') if 'partial' in n] if (
      tmp_path / 'out').exists() else True


def test_an_interrupted_run_leaves_no_output_under_the_final_name(tiny, tmp_path, monkeypatch):
  source = str(tmp_path / 'clip.mp4')
  video.write_frames(source, pan(12))
  calls = []
  compose = tiny.compose

  def interrupted(l, ab):
    calls.append(1)
    if len(calls) == 5:
      raise KeyboardInterrupt
    return compose(l, ab)

  monkeypatch.setattr(tiny, 'compose', interrupted)
  for target in ('out/clip.mp4', 'out/clip'):
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
      video.colorize_video(tiny, source, str(tmp_path / target))
    assert not os.path.exists(tmp_path / target)
  assert os.listdir(tmp_path / 'out') == []


def test_the_command_takes_clips_frame_folders_and_photos(tiny_run, tmp_path):
  clips = tmp_path / 'in'
  video.write_frames(str(clips / 'shot'), pan(5))
  video.write_frames(str(clips / 'a.avi'), pan(5), fps=10)
  (clips / 'bad.mov').write_bytes(b'garbage')
  Image.fromarray(pan(1)[0]).save(clips / "photo.png")
  hints = tmp_path / 'hints.json'
  hints.write_text('{"a.avi": {"0": [{"x": 10, "y": 10, "rgb": [0, 200, 0]}]}}')
  result = run_module(['colorjax.colorize', f'--checkpoint={tiny_run}', str(clips),
                       f'--out={tmp_path / "out"}', '--resolution=32'], check=False)
  assert result.returncode == 1
  assert 'failed: ' in result.stderr and 'bad.mov: cannot be read as a video' in result.stderr
  assert sorted(os.listdir(tmp_path / 'out')) == ['a.avi', 'photo.png', 'shot']
  assert len(os.listdir(tmp_path / 'out' / 'shot')) == 5  # A folder of photos stays photos...
  result = run_module(['colorjax.colorize', f'--checkpoint={tiny_run}', str(clips / 'shot'),
                       '--frames', '--video_output=mp4', '--fps=10',
                       f'--out={tmp_path / "clips"}', '--resolution=32'])
  assert _describe(str(tmp_path / 'clips' / 'shot.mp4'))['frames'] == 5  # ...or one clip.
  result = run_module(['colorjax.colorize', f'--checkpoint={tiny_run}', str(clips / 'a.avi'),
                       f'--hints={hints}', f'--out={tmp_path / "hinted"}'], check=False)
  assert result.returncode != 0 and 'not trained with colour hints' in result.stderr

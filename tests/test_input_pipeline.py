"""The input pipeline: awkward files, stable splits, deterministic order, TFDS."""

import io
import os
import struct
import zlib

import ml_collections
import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from colorjax import images
from colorjax import input_pipeline as ip
from colorjax import parallel
from colorjax import sources
from colorjax.errors import DataError
from tests.conftest import photo_crops
from tests.conftest import write_photo_folder


def _data_config(**overrides):
  config = ml_collections.ConfigDict(dict(
      source='folder', folder='', eval_fraction=0.25, eval_fractions='', split_seed=0,
      image_size=24, resize_shorter=0, gray_threshold=6.0, cache=False,
      scale_range=(1.0, 1.0), on_device=False,
      num_threads=2, prefetch=8, num_workers=0, tfds_name='cifar10',
      train_split='train', eval_split='test', tfds_data_dir='',
      tfds_download=False))
  config.update(overrides)
  return config


def _png16(array: np.ndarray) -> bytes:
  """A 16-bit PNG (Pillow cannot write 16-bit RGB)."""
  height, width, channels = array.shape
  raw = b''.join(b'\x00' + row.astype('>u2').tobytes() for row in array)
  chunk = lambda kind, data: (struct.pack('>I', len(data)) + kind + data +
                              struct.pack('>I', zlib.crc32(kind + data)))
  header = struct.pack('>IIBBBBB', width, height, 16,
                       {1: 0, 3: 2, 4: 6}[channels], 0, 0, 0)
  return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) +
          chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, fmt, **kwargs)
  return buffer.getvalue()


PHOTO = photo_crops(1, height=40, width=48)[0]


def test_decode_rgb_png_is_exact():
  assert np.array_equal(images.decode_image(_encode(Image.fromarray(PHOTO), 'PNG')), PHOTO)


def test_decode_cmyk_jpeg():
  data = _encode(Image.fromarray(PHOTO).convert('CMYK'), 'JPEG', quality=95)
  rgb = images.decode_image(data)
  assert rgb.shape == PHOTO.shape and rgb.dtype == np.uint8
  assert np.abs(rgb.astype(int) - PHOTO).mean() < 6


def test_decode_rgba_composites_onto_white():
  rgba = np.concatenate([PHOTO, np.zeros(PHOTO.shape[:2] + (1,), np.uint8)], -1)
  rgba[:20, :, 3] = 255  # Top half opaque, bottom half transparent.
  rgb = images.decode_image(_encode(Image.fromarray(rgba), 'PNG'))
  assert np.array_equal(rgb[:20], PHOTO[:20])
  assert np.all(rgb[20:] == 255)


def test_decode_16_bit_png_scales_to_8_bits():
  rgb16 = PHOTO.astype(np.uint16) * 257 + 100
  assert np.array_equal(images.decode_image(_png16(rgb16)), PHOTO)
  gray16 = rgb16[..., :1]
  gray = images.decode_image(_png16(gray16))
  assert np.array_equal(gray, np.repeat(PHOTO[..., :1], 3, axis=-1))


def test_decode_grayscale_and_palette():
  gray = images.decode_image(_encode(Image.fromarray(PHOTO).convert('L'), 'PNG'))
  assert gray.shape == PHOTO.shape
  assert np.all(gray[..., 0] == gray[..., 1]) and np.all(gray[..., 1] == gray[..., 2])
  palette = images.decode_image(_encode(Image.fromarray(PHOTO).convert('P'), 'PNG'))
  assert palette.shape == PHOTO.shape and np.abs(palette.astype(int) - PHOTO).mean() < 12


def test_decode_applies_exif_orientation():
  exif = Image.Exif()
  exif[0x0112] = 6  # Rotate 90 degrees clockwise to display.
  data = _encode(Image.fromarray(PHOTO), 'JPEG', exif=exif, quality=95)
  rgb = images.decode_image(data)
  assert rgb.shape == (48, 40, 3)
  expected = np.rot90(PHOTO, k=-1)
  assert np.abs(rgb.astype(int) - expected).mean() < 6


def test_decode_garbage_is_a_data_error():
  with pytest.raises(DataError, match='not an image, or in a format Pillow cannot read'):
    images.decode_image(b'definitely not an image')
  with pytest.raises(DataError, match='not a readable image'):
    images.decode_image(_encode(Image.fromarray(PHOTO), 'PNG')[:100])  # Truncated.


@pytest.fixture
def awkward_folder(tmp_path):
  """Every kind of file a photo folder holds, nested, with a broken one."""
  folder = tmp_path / 'awkward'
  (folder / 'nested' / 'deeper').mkdir(parents=True)
  photo = Image.fromarray(PHOTO)
  files = {
      'a.png': _encode(photo, 'PNG'),
      'b.JPG': _encode(photo, 'JPEG'),
      'nested/c_cmyk.jpg': _encode(photo.convert('CMYK'), 'JPEG'),
      'nested/d.webp': _encode(photo, 'WEBP'),
      'nested/e.bmp': _encode(photo, 'BMP'),
      'nested/deeper/f.tif': _encode(photo, 'TIFF'),
      'nested/deeper/g_rgba.png': _encode(photo.convert('RGBA'), 'PNG'),
      'h_16bit.png': _png16(PHOTO.astype(np.uint16) * 257),
      'gray_l.png': _encode(photo.convert('L'), 'PNG'),
      'gray_rgb.jpg': _encode(photo.convert('L').convert('RGB'), 'JPEG'),
      'broken.jpg': _encode(photo, 'JPEG')[:200],
      'notes.txt': b'not an image, and not named like one',
  }
  for name, data in files.items():
    (folder / name).write_bytes(data)
  return str(folder)


def test_scan_skips_broken_and_gray_files_with_a_warning(awkward_folder, caplog):
  source = images.FileSource(images.list_images(awkward_folder))
  assert len(source) == 11  # Every image extension, any case; not notes.txt.
  with caplog.at_level('INFO'):
    usable = sources.scan(source, gray_threshold=6.0, name='train')
  names = sorted(os.path.basename(source.paths[i]) for i in usable)
  assert names == ['a.png', 'b.JPG', 'c_cmyk.jpg', 'd.webp', 'e.bmp', 'f.tif',
                   'g_rgba.png', 'h_16bit.png']
  assert 'broken.jpg' in caplog.text
  assert '8 usable images, 1 skipped as unreadable, 2 excluded as grayscale' in caplog.text
  # Without the gray filter only the broken file goes.
  assert len(sources.scan(source, gray_threshold=0, name='eval')) == 10


def test_no_usable_images_is_a_clear_error(tmp_path):
  (tmp_path / 'broken.png').write_bytes(b'\x89PNG broken')
  source = images.FileSource(images.list_images(str(tmp_path)))
  with pytest.raises(DataError, match='No usable train images: 1 found, 1 unreadable'):
    sources.scan(source, gray_threshold=6.0, name='train')


def test_missing_and_empty_folders_are_clear_errors(tmp_path):
  with pytest.raises(DataError, match='does not exist'):
    sources.open_source(_data_config(folder=str(tmp_path / 'nope')), 'train')
  with pytest.raises(DataError, match='holds no images'):
    sources.open_source(_data_config(folder=str(tmp_path)), 'train')
  (tmp_path / 'one.png').write_bytes(b'')
  with pytest.raises(DataError, match='The eval split of .* is empty'):
    sources.open_source(_data_config(folder=str(tmp_path), eval_fraction=0.0), 'eval')
  with pytest.raises(DataError, match='no folder is set'):
    sources.open_source(_data_config(folder=''), 'train')
  with pytest.raises(DataError, match='must be "tfds", "folder" or "sample"'):
    sources.open_source(_data_config(source='ftp'), 'train')


def test_folder_split_is_stable_when_files_are_added(tmp_path):
  folder = str(tmp_path / 'photos')
  write_photo_folder(folder, 40, seed=0)
  config = _data_config(folder=folder)
  train = sources.open_source(config, 'train').paths
  held_out = sources.open_source(config, 'eval').paths
  assert not set(train) & set(held_out) and len(train) + len(held_out) == 40
  assert 2 <= len(held_out) <= 20
  write_photo_folder(folder, 20, seed=1)  # New files, new names.
  held_out_later = sources.open_source(config, 'eval').paths
  assert set(held_out) <= set(held_out_later)
  assert set(train) <= set(sources.open_source(config, 'train').paths)
  other_seed = sources.open_source(_data_config(folder=folder, split_seed=1), 'eval').paths
  assert set(other_seed) != set(held_out_later)


def test_a_folder_held_out_share_of_its_own_only_moves_its_photos_to_held_out(tmp_path):
  a, b = str(tmp_path / 'a'), str(tmp_path / 'b_neutral')
  write_photo_folder(a, 20, seed=0)
  write_photo_folder(b, 40, seed=1)
  base = _data_config(folder=f'{a},{b}*3', eval_fraction=0.1)
  more = _data_config(folder=f'{a},{b}*3', eval_fraction=0.1, eval_fractions='b_neutral:0.5')
  held, held_more = (set(sources.open_source(c, 'eval').paths) for c in (base, more))
  assert held <= held_more
  assert {p for p in held if p.startswith(a)} == {p for p in held_more if p.startswith(a)}
  from_b = [p for p in held_more if p.startswith(b)]
  assert 10 <= len(from_b) <= 30  # Half of 40 by a hash: far from the base share's 4.
  train_more = sources.open_source(more, 'train').paths
  assert not set(train_more) & held_more
  assert len(train_more) == (20 - (len(held_more) - len(from_b))) + 3 * (40 - len(from_b))
  for bad, message in (('b_neutral', 'FOLDER:SHARE'), ('b_neutral:1.5', 'FOLDER:SHARE'),
                       ('b:0.1', 'none of the folders')):
    with pytest.raises(DataError, match=message):
      sources.open_source(_data_config(folder=f'{a},{b}', eval_fractions=bad), 'eval')


def test_a_repeated_folder_counts_its_training_photos_k_times_and_held_out_once(tmp_path):
  a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
  write_photo_folder(a, 20, seed=0)
  write_photo_folder(b, 20, seed=1)
  once = _data_config(folder=f'{a},{b}')
  thrice = _data_config(folder=f'{a},{b}*3')
  train_once = sources.open_source(once, 'train').paths
  train_thrice = sources.open_source(thrice, 'train').paths
  from_b = [p for p in train_once if p.startswith(b)]
  assert sorted(train_thrice) == sorted(train_once + 2 * from_b)
  assert sources.open_source(thrice, 'eval').paths == sources.open_source(once, 'eval').paths
  folder = sources.folder_of({'data': {'folder': f'{a},{b}*3'}}, None)
  assert folder(os.path.join(b, 'x.png')) == b and folder(os.path.join(a, 'x.png')) == a
  for bad in (f'{b}*0', f'{b}*two', '*3'):
    with pytest.raises(DataError, match='a whole number of 1 or more'):
      sources.open_source(_data_config(folder=f'{a},{bad}'), 'train')


def test_an_eval_folder_is_evaluated_whole_and_train_keeps_all_of_its_folder(tmp_path):
  """CIFAR-10's layout: train/ for training, nothing held out; test/ for eval."""
  train_folder, test_folder = str(tmp_path / 'train'), str(tmp_path / 'test')
  write_photo_folder(train_folder, 10, seed=0)
  write_photo_folder(test_folder, 4, seed=1)
  config = _data_config(folder=train_folder, eval_folder=test_folder, eval_fraction=0.0)
  assert len(sources.open_source(config, 'train').paths) == 10
  assert sorted(sources.open_source(config, 'eval').paths) == sorted(
      os.path.join(test_folder, f) for f in os.listdir(test_folder))


def _train_batches(config, source, indices, start=0, steps=6, **kwargs):
  return list(ip.train_batches(config, source, indices, global_batch=4,
                               start_step=start, num_steps=steps, seed=7,
                               **kwargs))


def test_train_order_is_a_function_of_seed_and_step(photo_folder):
  config = _data_config(folder=photo_folder)
  source = sources.open_source(config, 'train')
  indices = np.arange(len(source))
  batches = _train_batches(config, source, indices)
  assert len(batches) == 6
  assert batches[0]['rgb'].shape == (4, 24, 24, 3) and batches[0]['rgb'].dtype == np.uint8
  again = _train_batches(config, source, indices)
  resumed = _train_batches(config, source, indices, start=3)
  for a, b in zip(batches, again):
    np.testing.assert_array_equal(a['rgb'], b['rgb'])
  for a, b in zip(batches[3:], resumed):
    np.testing.assert_array_equal(a['rgb'], b['rgb'])
  assert not np.array_equal(batches[0]['rgb'], batches[1]['rgb'])
  threads = _train_batches(_data_config(folder=photo_folder, num_threads=1,
                                        cache=True), source, indices)
  np.testing.assert_array_equal(threads[5]['rgb'], batches[5]['rgb'])


def test_each_process_reads_its_slice_of_the_global_batch(photo_folder):
  config = _data_config(folder=photo_folder)
  source = sources.open_source(config, 'train')
  indices = np.arange(len(source))
  whole = _train_batches(config, source, indices, process_index=0, process_count=1)
  halves = [_train_batches(config, source, indices, process_index=p,
                           process_count=2) for p in range(2)]
  for step, batch in enumerate(whole):
    assert halves[0][step]['rgb'].shape[0] == 2
    np.testing.assert_array_equal(
        np.concatenate([halves[0][step]['rgb'], halves[1][step]['rgb']]),
        batch['rgb'])


def test_every_example_is_seen_once_per_epoch(tmp_path):
  folder = str(tmp_path / 'photos')
  write_photo_folder(folder, 8, height=24, width=24)
  config = _data_config(folder=folder, eval_fraction=0.0)
  source = sources.open_source(config, 'train')
  assert len(source) == 8
  batches = _train_batches(config, source, np.arange(8), steps=2)
  crops = [ip.center_crop(source.load(i), 24) for i in range(8)]
  seen = []
  for image in np.concatenate([b['rgb'] for b in batches]):
    matches = [i for i, c in enumerate(crops)
               if np.array_equal(c, image) or np.array_equal(c[:, ::-1], image)]
    seen += matches[:1]
  assert sorted(seen) == list(range(8))


def test_training_crops_large_images_after_resizing_the_shorter_side(tmp_path):
  folder = str(tmp_path / 'photos')
  write_photo_folder(folder, 4, height=120, width=200)
  config = _data_config(folder=folder, eval_fraction=0.0, resize_shorter=30)
  source = sources.open_source(config, 'train')
  assert images.fit_size(source.load(0), 24, 30).shape == (30, 50, 3)
  assert images.fit_size(source.load(0), 24, 0).shape == (120, 200, 3)
  assert images.fit_size(np.zeros((10, 20, 3), np.uint8), 24, 0).shape == (24, 48, 3)
  batch = _train_batches(config, source, np.arange(4), steps=1)[0]
  assert batch['rgb'].shape == (4, 24, 24, 3)


def test_eval_covers_every_example_once_with_a_masked_tail(photo_folder):
  config = _data_config(folder=photo_folder, eval_fraction=1.0)
  source = sources.open_source(config, 'eval')
  indices = np.arange(len(source) - 1)  # 23 images: the last batch is partial.
  batches = list(ip.eval_batches(config, source, indices, global_batch=8))
  assert len(batches) == 3
  masks = np.concatenate([b['mask'] for b in batches])
  assert masks.sum() == 23 and not masks[23:].any()
  images = np.concatenate([b['rgb'] for b in batches])[:23]
  for i, image in enumerate(images):
    np.testing.assert_array_equal(image, ip.center_crop(source.load(i), 24))
  # Going through it again gives the same batches.
  again = list(ip.eval_batches(config, source, indices, global_batch=8))
  np.testing.assert_array_equal(again[1]['rgb'], batches[1]['rgb'])


def test_sample_source_needs_no_network():
  config = _data_config(source='sample', image_size=64)
  train, held_out = sources.open_source(config, 'train'), sources.open_source(config, 'eval')
  assert len(train) == len(sources.SAMPLE_TRAIN) and len(held_out) == len(sources.SAMPLE_EVAL)
  assert len(sources.scan(train, gray_threshold=6.0, name='train')) == len(train)


def test_tfds_source_under_mock_data():
  config = _data_config(source='tfds', tfds_name='cifar10', image_size=32)
  with tfds.testing.mock_data(num_examples=12):
    source = sources.open_source(config, 'train')
    usable = sources.scan(source, gray_threshold=0, name='train')
    assert len(usable) == 12
    batch = _train_batches(config, source, usable, steps=1)[0]
  assert batch['rgb'].shape == (4, 32, 32, 3) and batch['rgb'].dtype == np.uint8


def test_tfds_not_prepared_says_how_to_prepare(tmp_path):
  with pytest.raises(DataError) as error:
    sources.tfds_split('cifar10', 'train', str(tmp_path), download=False)
  message = str(error.value)
  assert 'tfds build cifar10 --file_format=array_record' in message
  assert '--config.data.source=folder' in message and 'source=sample' in message
  assert '\n' not in message


def test_tfds_unknown_name_and_imageless_dataset_are_clear_errors(tmp_path):
  with pytest.raises(DataError, match="no dataset named 'cifar_eleven'"):
    sources.tfds_split('cifar_eleven', 'train', str(tmp_path), download=False)
  with tfds.testing.mock_data(num_examples=2):
    with pytest.raises(DataError, match='has no "image" feature'):
      sources.tfds_split('imdb_reviews', 'train', None, download=False)


def test_scale_augmentation_resizes_before_cropping(tmp_path):
  folder = str(tmp_path / 'photos')
  write_photo_folder(folder, 4, height=60, width=80)
  config = _data_config(folder=folder, eval_fraction=0.0, scale_range=(0.5, 2.0))
  source = sources.open_source(config, 'train')
  rng = np.random.default_rng(0)
  shorter = [min(ip.random_scale(source.load(0), (0.5, 2.0), 40, rng).shape[:2])
             for _ in range(50)]
  assert min(shorter) == 40 and max(shorter) > 100  # Clamped at min_size.
  plain = _train_batches(_data_config(folder=folder, eval_fraction=0.0), source,
                         np.arange(4), steps=2)
  scaled = _train_batches(config, source, np.arange(4), steps=2)
  again = _train_batches(config, source, np.arange(4), steps=2)
  assert scaled[0]['rgb'].shape == (4, 24, 24, 3)
  assert not np.array_equal(plain[1]['rgb'], scaled[1]['rgb'])
  np.testing.assert_array_equal(scaled[1]['rgb'], again[1]['rgb'])


def test_on_device_batches_equal_the_host_pipeline(tmp_path):
  import jax
  folder = str(tmp_path / 'photos')
  write_photo_folder(folder, 10, height=30, width=40)
  config = _data_config(folder=folder, eval_fraction=0.0)
  source = sources.open_source(config, 'train')
  with open(source.paths[4], 'wb') as f:
    f.write(b'broken')  # Left out by the scan, so never loaded.
  indices = np.array([0, 2, 3, 5, 6, 7, 8, 9])  # As if 1 were gray and 4 broken.
  host = _train_batches(config, source, indices, steps=5)  # 20 examples: 2.5 epochs.
  mesh = parallel.make_mesh(4)  # One example a device.
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(parallel.AXIS))
  device = ip.DeviceDataset(config, source, indices, seed=7, global_batch=4,
                            sharding=sharding)
  for step, batch in enumerate(host):
    np.testing.assert_array_equal(np.asarray(device.batch(step)['rgb']), batch['rgb'])


def test_on_device_refuses_mixed_sizes_and_rescaling(tmp_path):
  import jax
  folder = str(tmp_path / 'photos')
  write_photo_folder(folder, 3, height=30, width=40)
  write_photo_folder(folder, 3, seed=1, height=50, width=40)
  mesh = parallel.make_mesh(1)
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(parallel.AXIS))
  config = _data_config(folder=folder, eval_fraction=0.0)
  source = sources.open_source(config, 'train')
  with pytest.raises(DataError, match='comes? in 2 sizes'):
    ip.DeviceDataset(config, source, np.arange(6), seed=0, global_batch=2, sharding=sharding)
  with pytest.raises(DataError, match='uses the images as they are'):
    ip.DeviceDataset(_data_config(folder=folder, scale_range=(0.5, 1.0)), source,
                     np.arange(6), seed=0, global_batch=2, sharding=sharding)


def test_several_folders_are_one_source_with_stable_splits(tmp_path):
  first, second = str(tmp_path / 'first'), str(tmp_path / 'second')
  write_photo_folder(first, 20, seed=0)
  write_photo_folder(second, 20, seed=1)
  alone = {s: sources.open_source(_data_config(folder=first), s).paths for s in ('train', 'eval')}
  both = {s: sources.open_source(_data_config(folder=f'{first},{second}'), s).paths
          for s in ('train', 'eval')}
  assert len(both['train']) + len(both['eval']) == 40
  assert not set(both['train']) & set(both['eval'])
  assert {p for p in both['eval'] if p.startswith(second)}  # Both folders hold out photos.
  # Adding a folder moves no file of the first to the other split.
  assert set(alone['eval']) <= set(both['eval'])
  assert set(alone['train']) <= set(both['train'])
  with pytest.raises(DataError, match="'/no/such' does not exist"):
    sources.open_source(_data_config(folder=f'{first},/no/such'), 'train')

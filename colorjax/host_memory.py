"""Host memory for training: glibc's malloc on transparent huge pages.

XLA:CPU allocates an executable's temporary buffers when the executable
runs and frees them when it returns: 371 MB and four of 85 MB for the
encoder U-Net's train step at 16 x 96x96 (jax 0.10.2). glibc serves
allocations that large from fresh mmaps and gives them back with munmap, so
at every step the kernel zeroes and maps about 92,000 pages of 4 KiB, one
fault at a time: about 170 ms of system time in a step of about 400 ms on 2
cores (strace and getrusage, 2026-12-04; RESULTS.md, "Speed on a CPU").
glibc 2.35 and later can ask for transparent huge pages instead (the
tunable `glibc.malloc.hugetlb=1` madvises malloc's mappings), and the same
step then takes 390-790 faults of 2 MiB and 32-104 ms of system time.

glibc reads its tunables once, when a process starts, so a command that
wants them sets GLIBC_TUNABLES and runs itself again in place (`os.execve`:
the same process id and arguments, the environment plus the tunable).
Importing colorjax never does this; the training command (`colorjax.main`)
and the train-step benchmarks do, before JAX starts. Colorizing a photo was
no faster with it (2048x1536, 2026-12-04), so the other commands do not pay
for a second start (about 1.6 s of imports). A GLIBC_TUNABLES that already
names `glibc.malloc.hugetlb` is left as it is, which is also how to opt
out: `GLIBC_TUNABLES=glibc.malloc.hugetlb=0`.
"""

import os
import platform
import sys

TUNABLE = 'glibc.malloc.hugetlb'
_THP_MODE = '/sys/kernel/mm/transparent_hugepage/enabled'


def _glibc_version() -> tuple[int, ...]:
  """(major, minor) of the C library this Python runs on; () if not glibc."""
  library, version = platform.libc_ver()
  if library != 'glibc' or not version:
    return ()
  try:
    return tuple(int(part) for part in version.split('.')[:2])
  except ValueError:
    return ()


def _thp_mode(path: str = _THP_MODE) -> str:
  """The kernel's transparent huge page mode ('always', 'madvise', 'never'),
  or '' where the kernel does not say."""
  try:
    with open(path, encoding='ascii') as f:
      text = f.read()
  except OSError:
    return ''
  start, end = text.find('['), text.find(']')
  return text[start + 1:end] if 0 <= start < end else ''


def with_huge_pages(tunables: str, on: bool = True) -> str:
  """GLIBC_TUNABLES with malloc's huge pages asked for (or, with on=False,
  refused), the other tunables kept."""
  parts = [part for part in tunables.split(':') if part and not part.startswith(f'{TUNABLE}=')]
  return ':'.join([*parts, f'{TUNABLE}={int(on)}'])


def without_huge_pages(tunables: str) -> str:
  """GLIBC_TUNABLES without the setting `with_huge_pages` adds."""
  return ':'.join(part for part in tunables.split(':') if part and part != f'{TUNABLE}=1')


def wanted(environ=None, glibc=None, thp_mode=None) -> bool:
  """Whether this process should run again with huge pages for malloc: glibc
  2.35 or later (the tunable's first release), a kernel that gives huge pages
  to the mappings that ask ('madvise'; with 'always' they have them already,
  with 'never' asking is useless), and no choice made in GLIBC_TUNABLES."""
  environ = os.environ if environ is None else environ
  glibc = _glibc_version() if glibc is None else glibc
  thp_mode = _thp_mode() if thp_mode is None else thp_mode
  return (sys.platform.startswith('linux') and glibc >= (2, 35) and thp_mode == 'madvise'
          and TUNABLE not in environ.get('GLIBC_TUNABLES', ''))


def run_again_with_huge_pages() -> None:
  """Replaces this process with itself started with huge pages for malloc,
  when `wanted()`; otherwise returns. Call it before JAX runs anything."""
  if not wanted():
    return
  environ = dict(os.environ, GLIBC_TUNABLES=with_huge_pages(os.environ.get('GLIBC_TUNABLES', '')))
  sys.stdout.flush()
  sys.stderr.flush()
  try:
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environ)
  except OSError:  # Not worth failing a command for: it runs as it is.
    pass

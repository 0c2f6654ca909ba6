"""The training command's second start with malloc on transparent huge pages."""

import json
import os
import subprocess
import sys

import pytest

from colorjax import host_memory
from tests.conftest import REPO

_ON = 'glibc.malloc.hugetlb=1'


def test_the_tunable_is_added_and_removed_beside_the_users_own():
  assert host_memory.with_huge_pages('') == _ON
  assert host_memory.with_huge_pages('glibc.malloc.arena_max=2') == f'glibc.malloc.arena_max=2:{_ON}'
  assert host_memory.with_huge_pages(f'{_ON}:glibc.malloc.arena_max=2', on=False) == (
      'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0')
  assert host_memory.without_huge_pages(f'glibc.malloc.arena_max=2:{_ON}') == 'glibc.malloc.arena_max=2'
  assert host_memory.without_huge_pages(_ON) == ''
  assert host_memory.without_huge_pages('glibc.malloc.hugetlb=0') == 'glibc.malloc.hugetlb=0'


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc and its tunables: Linux')
@pytest.mark.parametrize('environ, glibc, thp_mode, expected', [
    ({}, (2, 36), 'madvise', True),
    ({'GLIBC_TUNABLES': 'glibc.malloc.arena_max=2'}, (2, 36), 'madvise', True),
    ({}, (2, 35), 'madvise', True),
    ({}, (2, 34), 'madvise', False),   # No such tunable before 2.35.
    ({}, (), 'madvise', False),        # Not glibc (musl).
    ({}, (2, 36), 'always', False),    # Huge pages already, without asking.
    ({}, (2, 36), 'never', False),     # Asking would get nothing.
    ({}, (2, 36), '', False),
    ({'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=0'}, (2, 36), 'madvise', False),  # Opted out.
    ({'GLIBC_TUNABLES': _ON}, (2, 36), 'madvise', False),  # Done: no loop.
])
def test_wanted_only_where_it_can_work_and_was_not_chosen(environ, glibc, thp_mode, expected):
  assert host_memory.wanted(environ, glibc, thp_mode) is expected


_REPORT = """
import json, os, sys
from colorjax import host_memory
host_memory.run_again_with_huge_pages()
print(json.dumps({'pid': os.getpid(), 'argv': sys.argv[1:],
                  'tunables': os.environ.get('GLIBC_TUNABLES', '')}))
"""


def _report(tunables):
  env = {k: v for k, v in os.environ.items() if k != 'GLIBC_TUNABLES'}
  env['PYTHONPATH'] = REPO
  if tunables is not None:
    env['GLIBC_TUNABLES'] = tunables
  process = subprocess.Popen([sys.executable, '-c', _REPORT, 'a b', '--flag=1'], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  out, err = process.communicate(timeout=120)
  assert process.returncode == 0, err
  return process.pid, json.loads(out.strip().splitlines()[-1])


def test_the_second_start_is_the_same_process_with_the_same_arguments():
  pid, report = _report(None)
  assert report['pid'] == pid and report['argv'] == ['a b', '--flag=1']
  expected = _ON if host_memory.wanted({}) else ''
  assert report['tunables'] == expected


def test_a_users_choice_is_kept():
  _, report = _report('glibc.malloc.hugetlb=0')
  assert report['tunables'] == 'glibc.malloc.hugetlb=0'

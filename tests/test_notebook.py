"""docs/colorjax.ipynb: committed without outputs, and runs top to bottom in a
real Jupyter kernel (the one a newcomer gets from requirements.txt)."""

import os

import nbformat
from nbclient import NotebookClient
import pytest

from tests.conftest import REPO

NOTEBOOK = os.path.join(REPO, 'docs', 'colorjax.ipynb')


def test_the_notebook_is_committed_without_outputs():
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  code = [cell for cell in notebook.cells if cell.cell_type == 'code']
  assert len(code) >= 6
  for cell in code:
    assert not cell.outputs and cell.execution_count is None, cell.source[:60]


def test_the_notebook_runs_top_to_bottom(tmp_path):
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  # Raises CellExecutionError, naming the cell, if any cell raises.
  NotebookClient(notebook, timeout=300, kernel_name='python3',
                 resources={'metadata': {'path': os.path.join(REPO, 'docs')}}).execute()
  outputs = [o for cell in notebook.cells if cell.cell_type == 'code' for o in cell.outputs]
  text = ''.join(o.get('text', '') for o in outputs if o.output_type == 'stream')
  images = [o for o in outputs if 'image/png' in o.get('data', {})]
  assert len(images) == 4  # Every figure was drawn.
  assert 'dB   gray' in text and 'loss' in text
  first, last = (float(x) for x in text.split('loss ')[-1].split(' in ')[0].split(' -> '))
  assert last < first

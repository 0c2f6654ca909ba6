"""Analytic FLOP counts of a network's forward pass, from its convolution shapes.

XLA's cost analysis does not count cuDNN convolutions on GPUs, so the
benchmarks count them here: every convolution in the traced forward pass costs
2 x output elements x kernel taps x input channels per group, counting only
the taps of a transposed convolution that meet real (not zero-dilated)
inputs, and every matrix product (the U-Net's upsampling is one) 2 x output
elements x contracted size. This reproduces the anchors' 96.2 GFLOP (U-Net) and 406 GFLOP (seed
CNN) per 256x256 image. Elementwise work (normalisation, activations, LAB) is
left out; for these networks it is well under 1% of the total.
"""

import os
import sys

import jax
from jax.extend import core as jax_core
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from colorjax import lowering  # pylint: disable=g-import-not-at-top,wrong-import-position


def _conv_flops(eqn) -> int:
  lhs, rhs = (v.aval for v in eqn.invars[:2])
  out = eqn.outvars[0].aval
  dims = eqn.params['dimension_numbers']
  kernel_spatial = np.prod([rhs.shape[d] for d in dims.rhs_spec[2:]])
  in_per_group = rhs.shape[dims.rhs_spec[1]]
  # A transposed convolution is a convolution over an input dilated with
  # zeros; only 1 / prod(lhs_dilation) of its taps meet real inputs.
  dilation = np.prod(eqn.params.get('lhs_dilation') or (1,))
  return int(2 * np.prod(out.shape) * kernel_spatial * in_per_group / dilation)


def _dot_flops(eqn) -> int:
  lhs = eqn.invars[0].aval
  (contracting, _), _ = eqn.params['dimension_numbers']
  return int(2 * np.prod(eqn.outvars[0].aval.shape) * np.prod([lhs.shape[d] for d in contracting]))


def _walk(jaxpr) -> int:
  total = 0
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == 'conv_general_dilated':
      total += _conv_flops(eqn)
    elif eqn.primitive.name == 'dot_general':
      total += _dot_flops(eqn)
    for sub in jax_core.jaxprs_in_params(eqn.params):
      total += _walk(sub)
  return total


def forward_flops(model, variables, height: int, width: int, batch: int = 1) -> int:
  """FLOPs of model.apply on a [batch, height, width, 1] input, in inference
  mode, with every convolution counted as a convolution (whatever lowering
  `lowering.conv_lowering` picks on this machine: Winograd does fewer
  multiplications, but the FLOP rate is the one for the convolution)."""
  l = jnp.zeros((batch, height, width, 1), jnp.float32)
  with lowering.forced_lowering('xla'):
    jaxpr = jax.make_jaxpr(lambda v, x: model.apply(v, x, train=False))(variables, l)
  return _walk(jaxpr.jaxpr)

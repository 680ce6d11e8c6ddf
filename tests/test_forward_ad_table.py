"""Forward mode over the *whole* op table: for every row and shape of
tests/test_gradcheck_ops.py, the JVP that forward_ad propagates equals the Jacobian
built by reverse mode (row by row) times the tangent, in float64."""
import numpy as np
import pytest

import tapegrad as tg
import tapegrad.autograd.forward_ad as fwAD
from tapegrad.autograd import grad

from test_gradcheck_ops import CASES, _inputs


def _outputs(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, tg.Tensor) and o.dtype.is_floating_point]


def _reverse_jvp(fn, inputs, tangents):
    """sum_j J_j @ t_j for each output, with J from reverse mode."""
    xs = [x.detach().requires_grad_() if isinstance(x, tg.Tensor) and x.requires_grad else x for x in inputs]
    outs = _outputs(fn(*xs))
    diff = [x for x in xs if isinstance(x, tg.Tensor) and x.requires_grad]
    res = []
    for o in outs:
        flat = np.zeros(o.numel())
        for r in range(o.numel()):
            seed = np.zeros(o.numel())
            seed[r] = 1.0
            gs = grad(o, diff, tg.tensor(seed.reshape(o.shape)), retain_graph=True, allow_unused=True)
            flat[r] = sum(
                float((g.detach().numpy() * t).sum())
                for g, t in zip(gs, tangents, strict=True)
                if g is not None
            )
        res.append(flat.reshape(o.shape))
    return res


@pytest.mark.parametrize("r, shapes", CASES)
def test_forward_mode_matches_reverse_jacobian(r, shapes):
    inputs = _inputs(r, shapes)
    rng = np.random.default_rng(7)
    tangents = [rng.standard_normal(x.shape) for x in inputs if isinstance(x, tg.Tensor) and x.requires_grad]
    expected = _reverse_jvp(r.fn, inputs, tangents)
    with fwAD.dual_level():
        it = iter(tangents)
        duals = [fwAD.make_dual(x.detach(), tg.tensor(next(it)))
                 if isinstance(x, tg.Tensor) and x.requires_grad else x for x in inputs]
        outs = _outputs(r.fn(*duals))
        got = [fwAD.unpack_dual(o).tangent for o in outs]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        g = np.zeros(e.shape) if g is None else g.detach().numpy()
        np.testing.assert_allclose(g, e, rtol=1e-7, atol=1e-9)

"""tapegrad.autograd.forward_ad against torch.autograd.forward_ad: same primal and tangent.

The op table is the one of tests/test_forward_ad.py (functions take the namespace first).
"""
from __future__ import annotations

import importlib.util
import pathlib

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import torch.autograd.forward_ad as tfwAD  # noqa: E402

import tapegrad  # noqa: E402
import tapegrad.autograd.forward_ad as fwAD  # noqa: E402


def _load_cases():
    path = pathlib.Path(__file__).resolve().parents[1] / "test_forward_ad.py"
    spec = importlib.util.spec_from_file_location("_tapegrad_forward_ad_cases", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

_M = _load_cases()
CASES = _M.CASES
# a subset that spans every family of the table
PARITY = ["exp", "log", "sqrt", "sin_cos", "tanh", "sigmoid", "abs", "pow_scalar", "clamp", "nan_to_num",
          "floor", "add_bcast", "add_alpha", "sub_bcast", "rsub_scalar", "mul_bcast", "div_bcast",
          "rdiv_scalar", "pow_tensor", "maximum", "where", "atan2",
          "sum_dim_keep", "sum_dims", "mean_dim", "prod", "var", "std_keep", "norm", "amax", "max_dim",
          "logsumexp", "cumsum", "softmax", "log_softmax",
          "reshape", "permute", "expand", "flip", "roll", "repeat", "cat", "stack", "split", "narrow",
          "slice", "select",
          "index_tensor", "index_mask", "gather", "index_select", "scatter_add", "masked_fill",
          "matmul_mm", "matmul_mv", "matmul_batched_bcast", "bmm", "einsum", "einsum_trace",
          "linear", "conv2d", "conv2d_stride", "batch_norm_train", "layer_norm", "max_pool2d",
          "avg_pool2d", "relu", "gelu", "gelu_tanh", "silu_softplus", "leaky_relu", "cross_entropy",
          "cross_entropy_sum", "mse_loss", "mlp",
          "inplace_add_", "inplace_mul_scalar", "inplace_relu", "inplace_sigmoid_", "inplace_copy_",
          "inplace_on_view", "inplace_into_nondual_view"]


def _torch_jvp(fn, arrays, tangents, which):
    with tfwAD.dual_level():
        xs = [torch.from_numpy(a.copy()) for a in arrays]
        for i in which:
            xs[i] = tfwAD.make_dual(xs[i], torch.from_numpy(tangents[i].copy()))
        outs = _M._as_tuple(fn(torch, *xs))
        res = [tfwAD.unpack_dual(o) for o in outs]
    return [(p.detach().numpy(), None if t is None else t.detach().numpy()) for p, t in res]


@pytest.mark.parametrize("name", PARITY)
def test_forward_ad_parity(name):
    _, fn, specs = next(c for c in CASES if c[0] == name)
    arrays, tangents = _M.make_inputs(specs, seed=3)
    for which in (list(range(len(arrays))), [0]):
        got = _M.forward_jvp(fn, arrays, tangents, which)
        want = _torch_jvp(fn, arrays, tangents, which)
        assert len(got) == len(want)
        for (p, t), (p_ref, t_ref) in zip(got, want, strict=True):
            np.testing.assert_allclose(p, p_ref, rtol=1e-10, atol=1e-12)
            assert t is not None and t_ref is not None
            assert t.shape == t_ref.shape and t.dtype == t_ref.dtype
            np.testing.assert_allclose(t, t_ref, rtol=1e-9, atol=1e-10)


def test_non_dual_outputs_parity():
    x = np.random.default_rng(0).standard_normal((3, 4))
    for lib, ad in ((tapegrad, fwAD), (torch, tfwAD)):
        with ad.dual_level():
            d = ad.make_dual(lib.tensor(x), lib.tensor(x))
            assert ad.unpack_dual(d > 0).tangent is None
            assert ad.unpack_dual(d.argmax(1)).tangent is None
            assert ad.unpack_dual(d.detach()).tangent is None
            assert ad.unpack_dual(d.max(1).indices).tangent is None


def test_error_messages_parity():
    def msg(lib, ad, f):
        with pytest.raises(Exception) as e:
            f(lib, ad)
        return type(e.value).__name__, str(e.value)

    cases = [
        lambda lib, ad: ad.make_dual(lib.zeros(2, dtype=lib.float64), lib.zeros(2, dtype=lib.float64)),
        lambda lib, ad: ad.exit_dual_level(),
        lambda lib, ad: ad.exit_dual_level(level=0),
    ]
    in_level = [
        lambda lib, ad: ad.make_dual(lib.zeros(2), lib.zeros(3)),
        lambda lib, ad: ad.make_dual(lib.zeros(2, 3), lib.zeros(3, 2)),
        lambda lib, ad: ad.make_dual(lib.zeros(2, dtype=lib.int64), lib.zeros(2)),
        lambda lib, ad: ad.make_dual(lib.zeros(2), lib.zeros(2, dtype=lib.int64)),
        lambda lib, ad: ad.make_dual(lib.zeros(2), lib.zeros(2), level=3),
        lambda lib, ad: ad.make_dual(ad.make_dual(lib.zeros(2), lib.zeros(2)), lib.zeros(2)),
        lambda lib, ad: ad.enter_dual_level(),
    ]
    for f in cases:
        assert msg(tapegrad, fwAD, f) == msg(torch, tfwAD, f)
    for f in in_level:
        with fwAD.dual_level(), tfwAD.dual_level():
            assert msg(tapegrad, fwAD, f) == msg(torch, tfwAD, f)


def test_unpack_outside_level_parity():
    for lib, ad in ((tapegrad, fwAD), (torch, tfwAD)):
        x = lib.zeros(2)
        p, t = ad.unpack_dual(x)
        assert p is x and t is None
        with ad.dual_level():
            d = ad.make_dual(x, lib.ones(2))
            y = d * 2
        assert ad.unpack_dual(y).tangent is None

"""torch-free checks of tapegrad's tensor printing against known PyTorch output.

Expected strings are what PyTorch 2.x prints for the same values. Where
PyTorch's docs show an older layout (``tensor([True, False])``,
``tensor([0, 1, 2, ..., 7, 8, 9])``), the strings here follow what torch
really prints today, since parity with torch is the contract.
"""

import importlib.util
import math
import pathlib

import numpy as np
import pytest

try:
    from tapegrad import _printing as P
except Exception:  # pragma: no cover - only while the package __init__ is broken
    _path = pathlib.Path(__file__).resolve().parents[1] / "src" / "tapegrad" / "_printing.py"
    _spec = importlib.util.spec_from_file_location("tapegrad_printing_standalone", _path)
    P = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(P)


@pytest.fixture(autouse=True)
def default_printoptions():
    P.set_printoptions(profile="default")
    yield
    P.set_printoptions(profile="default")


def r(arr, dtype=None, suffixes=()):
    arr = np.asarray(arr)
    name = dtype or arr.dtype.name
    return P.tensor_repr(arr, name, None, list(suffixes))


F32 = np.float32


@pytest.mark.parametrize(
    "arr, expected",
    [
        (np.array([-12.0, 65.0], F32), "tensor([-12.,  65.])"),
        (np.array(3.0, F32), "tensor(3.)"),
        (np.array([True, False]), "tensor([ True, False])"),
        (np.array(True), "tensor(True)"),
        (
            np.array([[0.2035, 1.2959], [1.8101, -0.4644]], F32),
            "tensor([[ 0.2035,  1.2959],\n        [ 1.8101, -0.4644]])",
        ),
        (np.array([1e-5, 1.0], F32), "tensor([1.0000e-05, 1.0000e+00])"),
        (np.array([math.nan, math.inf, -math.inf, 1.0], F32), "tensor([nan, inf, -inf, 1.])"),
        (np.array([-0.0, 0.5], F32), "tensor([-0.0000, 0.5000])"),
        (np.array([1.12345], F32), "tensor([1.1235])"),
        (
            np.arange(8, dtype=F32).reshape(2, 2, 2),
            "tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])",
        ),
        (np.arange(1001), "tensor([   0,    1,    2,  ...,  998,  999, 1000])"),
    ],
)
def test_known_outputs(arr, expected):
    assert r(arr) == expected


def test_non_default_dtypes_are_named():
    assert r(np.array([1, 2], np.int32)) == "tensor([1, 2], dtype=torch.int32)"
    assert r(np.array(3.0)) == "tensor(3., dtype=torch.float64)"
    # float16 overflow to inf; only finite non-zero values pick the style.
    assert r(np.array([np.inf, 1.0], np.float16)) == "tensor([inf, 1.], dtype=torch.float16)"
    assert r(np.array([0.1, 0.2], np.float16)) == "tensor([0.1000, 0.2000], dtype=torch.float16)"


def test_empty_tensors():
    assert r(np.zeros(0, F32)) == "tensor([])"
    assert r(np.zeros((0, 3), F32)) == "tensor([], size=(0, 3))"
    assert r(np.zeros(0, np.int32)) == "tensor([], dtype=torch.int32)"
    # Without elements int64 cannot be inferred, so torch names it; a caller
    # passing show_dtype=False must still get that.
    assert P.tensor_repr(np.zeros(0, np.int64), "int64", False, []) == "tensor([], dtype=torch.int64)"


def test_default_shows_dtype_rule():
    assert not P.default_shows_dtype("float32")
    assert not P.default_shows_dtype("int64")
    assert not P.default_shows_dtype("bool")
    assert P.default_shows_dtype("float64")
    assert P.default_shows_dtype("uint8")
    assert P.default_shows_dtype("int64", empty=True)
    assert not P.default_shows_dtype("float32", empty=True)


def test_autograd_suffixes_follow_dtype():
    got = P.tensor_repr(np.array([1.0, 2.0]), "float64", True, ["requires_grad=True"])
    assert got == "tensor([1., 2.], dtype=torch.float64, requires_grad=True)"
    got = P.tensor_repr(np.array([2.0, 4.0], F32), "float32", False, ["grad_fn=<MulBackward0>"])
    assert got == "tensor([2., 4.], grad_fn=<MulBackward0>)"


def test_long_rows_wrap_at_linewidth():
    expected = (
        "tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,\n"
        "        1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, 2.2857, 2.4286,\n"
        "        2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857, 3.4286, 3.5714, 3.7143,\n"
        "        3.8571, 4.0000, 4.1429])"
    )
    assert r(np.arange(30, dtype=F32) / F32(7)) == expected


def test_summarized_matrix_uses_visible_values_only():
    text = r(np.arange(3000, dtype=F32).reshape(30, 100))
    lines = text.split("\n")
    assert lines[0] == "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 9.7000e+01, 9.8000e+01,"
    assert lines[1] == "         9.9000e+01],"
    assert "        ...," in lines
    assert lines[-1] == "         2.9990e+03]])"


def test_set_printoptions_docstring_examples():
    P.set_printoptions(precision=2)
    assert r(np.array([1.12345], F32)) == "tensor([1.12])"
    P.set_printoptions(threshold=5)
    assert r(np.arange(10)) == "tensor([0, 1, 2,  ..., 7, 8, 9])"
    P.set_printoptions(profile="default")
    assert r(np.array([1.12345], F32)) == "tensor([1.1235])"
    assert r(np.arange(10)) == "tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])"


def test_sci_mode_override():
    P.set_printoptions(sci_mode=False)
    assert r(np.array([1e-5, 1.0], F32)) == "tensor([0.0000, 1.0000])"
    P.set_printoptions(sci_mode=True)
    assert r(np.array([1.5, 2.0], F32)) == "tensor([1.5000e+00, 2.0000e+00])"


def test_edgeitems_zero_adds_size():
    P.set_printoptions(edgeitems=0)
    assert r(np.arange(10, dtype=F32)) == "tensor([0., 1., 2., 3., 4., 5., 6., 7., 8., 9.], size=(10,))"
    assert r(np.arange(2000, dtype=F32).reshape(2, 1000)) == "tensor([...], size=(2, 1000))"


def test_get_printoptions_and_profiles():
    assert P.get_printoptions() == {
        "precision": 4,
        "threshold": 1000,
        "edgeitems": 3,
        "linewidth": 80,
        "sci_mode": None,
    }
    P.set_printoptions(profile="short", sci_mode=True)
    assert P.get_printoptions() == {
        "precision": 2,
        "threshold": 1000,
        "edgeitems": 2,
        "linewidth": 80,
        "sci_mode": True,
    }
    # Like torch, any call without sci_mode resets it to automatic.
    P.set_printoptions(linewidth=100)
    assert P.get_printoptions()["sci_mode"] is None
    P.set_printoptions(profile="full")
    assert P.get_printoptions()["threshold"] == math.inf
    saved = P.get_printoptions()
    P.set_printoptions(precision=1)
    P.set_printoptions(**saved)
    assert P.get_printoptions() == saved


def test_printoptions_context_manager_restores():
    before = P.get_printoptions()
    with P.printoptions(precision=1):
        assert r(np.array([1.26], F32)) == "tensor([1.3])"
    assert P.get_printoptions() == before

"""Byte-for-byte parity of tapegrad's tensor printing with ``repr(torch.Tensor)``.

torch is the oracle: every case builds the same values as a NumPy array and as
a torch tensor and requires identical strings, under several print options.
"""

import contextlib
import importlib.util
import math
import pathlib
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

try:
    from tapegrad import _printing as P
except Exception:  # pragma: no cover - only while the package __init__ is broken
    _path = pathlib.Path(__file__).resolve().parents[2] / "src" / "tapegrad" / "_printing.py"
    _spec = importlib.util.spec_from_file_location("tapegrad_printing_standalone", _path)
    P = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(P)

from torch._tensor_str import get_printoptions as torch_get_printoptions  # noqa: E402

FLOAT_DTYPES = [np.float16, np.float32, np.float64]
INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8]
ALL_DTYPES = FLOAT_DTYPES + INT_DTYPES + [np.bool_]

HYPO = settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@contextlib.contextmanager
def both_printoptions(**opts):
    """Apply the same options to torch and tapegrad, always restoring both defaults."""
    try:
        torch.set_printoptions(**opts)
        P.set_printoptions(**opts)
        yield
    finally:
        torch.set_printoptions(profile="default")
        P.set_printoptions(profile="default")


def dtype_name(t):
    return str(t.dtype).removeprefix("torch.")


def brief_rule(name):
    """How a caller that ignores emptiness decides show_dtype; empties must still match."""
    return name not in ("float32", "int64", "bool")


def check(arr, show_dtype=None):
    arr = np.asarray(arr)
    t = torch.from_numpy(arr.copy())
    expected = repr(t)
    assert str(t) == expected
    got = P.tensor_repr(arr, dtype_name(t), show_dtype, [])
    assert got == expected, f"\nexpected:\n{expected}\ngot:\n{got}"


def check_both_callers(arr):
    check(arr, None)
    check(arr, brief_rule(dtype_name(torch.from_numpy(np.asarray(arr).copy()))))


# ---------------------------------------------------------------- table cases

_rng = np.random.default_rng(1234)
_nan, _inf = float("nan"), float("inf")

TABLE = {
    "scalar_float": np.array(3.0, np.float32),
    "scalar_float64": np.array(3.0),
    "scalar_frac": np.array(-0.123456, np.float32),
    "scalar_int": np.array(7),
    "scalar_int8": np.array(-7, np.int8),
    "scalar_bool": np.array(True),
    "scalar_nan": np.array(_nan, np.float32),
    "scalar_neg_inf": np.array(-_inf, np.float32),
    "scalar_neg_zero": np.array(-0.0, np.float32),
    "scalar_big": np.array(1e20, np.float32),
    "scalar_tiny": np.array(1e-20),
    "scalar_half": np.array(0.1, np.float16),
    "empty_1d": np.zeros(0, np.float32),
    "empty_1d_f64": np.zeros(0),
    "empty_1d_int64": np.zeros(0, np.int64),
    "empty_1d_int32": np.zeros(0, np.int32),
    "empty_1d_bool": np.zeros(0, np.bool_),
    "empty_2d": np.zeros((0, 3), np.float32),
    "empty_2d_tail": np.zeros((3, 0), np.float32),
    "empty_3d_uint8": np.zeros((2, 0, 4), np.uint8),
    "int_valued": np.array([-12.0, 65.0], np.float32),
    "bool_1d": np.array([True, False]),
    "bool_all_true": np.array([True, True]),
    "bool_2d": np.array([[True, False, True], [False, False, True]]),
    "ints": np.array([1, -20, 300, -4000]),
    "uint8": np.arange(0, 256, 5, dtype=np.uint8),
    "int8_extremes": np.array([-128, 127, 0], np.int8),
    "int64_extremes": np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max]),
    "normal_f32": _rng.standard_normal(7).astype(np.float32),
    "normal_2d": _rng.standard_normal((4, 5)),
    "normal_3d": _rng.standard_normal((2, 3, 4)).astype(np.float32),
    "normal_4d": _rng.standard_normal((2, 2, 2, 3)).astype(np.float32),
    "nonfinite_mix": np.array([_nan, _inf, -_inf, 1.0, -0.0], np.float32),
    "nonfinite_frac": np.array([_nan, _inf, -_inf, 1.5], np.float32),
    "nonfinite_only": np.array([_nan, _inf, -_inf], np.float32),
    "all_zero": np.zeros(4, np.float32),
    "neg_zero": np.array([-0.0, 0.0, -0.0]),
    "neg_zero_frac": np.array([-0.0, 0.25]),
    "big": np.array([1e8, 2e8, 3.5e8]),
    "just_below_1e8": np.array([99999999.0, 1.0e8]),
    "ratio_1000": np.array([1.0, 1000.0]),
    "ratio_above_1000": np.array([1.0, 1000.5]),
    "tiny": np.array([1e-4, 2e-4]),
    "tiny_below": np.array([9.9e-5, 1.0]),
    "huge_range": np.array([1e-300, 1e300]),
    "subnormal": np.array([5e-324, 1.0]),
    "half_max": np.array([65504.0, -65504.0, 1.0], np.float16),
    "half_frac": np.array([0.1, 0.2, 0.3333], np.float16),
    "half_sci": np.array([6e-5, 1000.0], np.float16),
    "rounding_edge": np.array([9.99996, 0.00005, -9.99995]),
    "large_ints_float": np.array([123456789.0, 1.0]),
    "long_row": np.arange(60, dtype=np.float32) / 7,
    "long_row_ints": np.arange(100),
    "long_row_sci": np.logspace(-10, 10, 40),
    "wide_2d_wrap": (np.arange(40, dtype=np.float64) / 3).reshape(2, 20),
    "summ_1d": np.arange(1001, dtype=np.float32),
    "summ_1d_int": np.arange(5000),
    "summ_2d": np.arange(2000, dtype=np.float32).reshape(40, 50) / 9,
    "summ_3d": _rng.standard_normal((10, 10, 11)).astype(np.float32),
    "summ_4d_small_rows": _rng.standard_normal((2, 3, 20, 20)),
    "summ_hidden_outlier": np.concatenate([np.ones(500), [1e9], np.ones(500)]),
    "summ_bool": np.arange(1500) % 3 == 0,
    "non_contiguous": np.arange(24.0).reshape(4, 6).T,
    "big_endian": np.arange(5, dtype=">f8") / 3,
}


@pytest.mark.parametrize("name", list(TABLE))
def test_table_default_options(name):
    check_both_callers(TABLE[name])


OPTION_SETS = [
    dict(precision=2),
    dict(precision=0),
    dict(precision=8),
    dict(sci_mode=True),
    dict(sci_mode=False),
    dict(threshold=5),
    dict(threshold=5, edgeitems=1),
    dict(edgeitems=0),
    dict(edgeitems=0, threshold=3),
    dict(edgeitems=10),
    dict(linewidth=20),
    dict(linewidth=1),
    dict(linewidth=200),
    dict(profile="short"),
    dict(profile="full"),
    dict(profile="short", precision=6, sci_mode=True),
]


@pytest.mark.parametrize("opts", OPTION_SETS, ids=repr)
def test_table_with_options(opts):
    with both_printoptions(**opts):
        for name, arr in TABLE.items():
            try:
                check_both_callers(arr)
            except AssertionError as e:
                raise AssertionError(f"case {name!r}: {e}") from None


# ------------------------------------------------------------ print options


def test_printoptions_state_matches_torch():
    calls = [
        dict(),
        dict(precision=2),
        dict(profile="short"),
        dict(profile="full"),
        dict(profile="full", threshold=10),
        dict(sci_mode=True),
        dict(precision=3),  # re-assigns sci_mode to None, as torch does
        dict(profile="nonsense"),
        dict(linewidth=50, edgeitems=1),
        dict(profile="default"),
    ]
    try:
        for kw in calls:
            torch.set_printoptions(**kw)
            P.set_printoptions(**kw)
            assert P.get_printoptions() == torch_get_printoptions()
            assert list(P.get_printoptions()) == list(torch_get_printoptions())
    finally:
        torch.set_printoptions(profile="default")
        P.set_printoptions(profile="default")


def test_printoptions_roundtrip_through_get():
    saved = P.get_printoptions()
    P.set_printoptions(precision=1, linewidth=30, sci_mode=True)
    P.set_printoptions(**saved)
    assert P.get_printoptions() == saved
    check(np.array([1.23456, 2.5]))


# ------------------------------------------------------------------ suffixes


class AVeryLongCustomFunctionNameToForceSuffixWrapping(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g


def _suffix_variants(arr):
    """(torch tensor, suffixes tapegrad's caller would pass) for autograd states."""
    leaf = torch.from_numpy(arr.copy()).requires_grad_()
    yield leaf, ["requires_grad=True"]
    yield leaf * 1, ["grad_fn=<MulBackward0>"]
    yield leaf - 1, ["grad_fn=<SubBackward0>"]
    out = AVeryLongCustomFunctionNameToForceSuffixWrapping.apply(leaf)
    yield out, [f"grad_fn=<{type(out.grad_fn).__name__}>"]


SUFFIX_ARRAYS = {
    "scalar": np.array(2.5, np.float32),
    "scalar_f64": np.array(2.5),
    "short": np.array([1.0, 2.0], np.float32),
    "short_f16": np.array([1.0, 2.0], np.float16),
    "row_near_width": np.arange(11, dtype=np.float32) + 0.5,
    "row_f64_near_width": np.arange(9, dtype=np.float64) + 0.5,
    "wrapped_row": np.arange(30, dtype=np.float64) / 7,
    "matrix": np.arange(12, dtype=np.float32).reshape(3, 4) / 3,
    "matrix_f64": np.arange(12, dtype=np.float64).reshape(3, 4) / 3,
    "cube": np.arange(24, dtype=np.float64).reshape(2, 3, 4),
    "summarized": np.arange(3000, dtype=np.float32).reshape(30, 100),
}


@pytest.mark.parametrize("linewidth", [80, 40, 10, 120])
@pytest.mark.parametrize("name", list(SUFFIX_ARRAYS))
def test_autograd_suffixes(name, linewidth):
    arr = SUFFIX_ARRAYS[name]
    with both_printoptions(linewidth=linewidth):
        for t, suffixes in _suffix_variants(arr):
            expected = repr(t)
            values = t.detach().numpy()
            got = P.tensor_repr(values, dtype_name(t), None, suffixes)
            assert got == expected, f"\nexpected:\n{expected}\ngot:\n{got}"
            got = P.tensor_repr(values, dtype_name(t), brief_rule(dtype_name(t)), suffixes)
            assert got == expected


@pytest.mark.parametrize("name", ["short", "matrix_f64", "cube"])
def test_suffixes_with_edgeitems_zero(name):
    arr = SUFFIX_ARRAYS[name]
    with both_printoptions(edgeitems=0, linewidth=60):
        for t, suffixes in _suffix_variants(arr):
            assert P.tensor_repr(t.detach().numpy(), dtype_name(t), None, suffixes) == repr(t)


def test_dtype_name_accepts_torch_prefix():
    arr = np.array([1, 2], np.int32)
    assert P.tensor_repr(arr, "torch.int32", None, []) == repr(torch.from_numpy(arr))


# ---------------------------------------------------------------- hypothesis

_special = st.sampled_from([0.0, -0.0, _nan, _inf, -_inf, 1.0, -1.0, 0.5, 1e-4, 1e8])
FLOAT_REGIMES = {
    "ints": st.integers(-1000, 1000).map(float),
    "unit": st.floats(-10, 10),
    "wide": st.floats(-1e12, 1e12),
    "tiny": st.floats(1e-9, 1e-3) | st.floats(-1e-3, -1e-9),
    "special": _special,
    "anything": st.floats(allow_nan=True, allow_infinity=True),
}
FLOAT_REGIMES["mixed"] = st.one_of(*FLOAT_REGIMES.values())

small_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5) | hnp.array_shapes(
    min_dims=1, max_dims=2, min_side=0, max_side=40
)


@st.composite
def arrays(draw, shapes=small_shapes):
    dtype = np.dtype(draw(st.sampled_from(ALL_DTYPES)))
    shape = draw(shapes)
    if dtype.kind == "f":
        regime = draw(st.sampled_from(sorted(FLOAT_REGIMES)))
        arr = draw(hnp.arrays(np.float64, shape, elements=FLOAT_REGIMES[regime]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # float16 overflow -> inf is wanted
            return arr.astype(dtype)
    if dtype.kind == "b":
        return draw(hnp.arrays(dtype, shape, elements=st.booleans()))
    info = np.iinfo(dtype)
    elements = draw(st.sampled_from([st.integers(-10, 10), st.integers(int(info.min), int(info.max))]))
    elements = elements.filter(lambda v: info.min <= v <= info.max)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@HYPO
@given(arrays())
def test_hypothesis_default_options(arr):
    check_both_callers(arr)


option_sets = st.fixed_dictionaries(
    {},
    optional={
        "precision": st.integers(0, 8),
        "threshold": st.sampled_from([0, 3, 10, 50, 1000, math.inf]),
        "edgeitems": st.integers(0, 4),
        "linewidth": st.integers(1, 140),
        "profile": st.sampled_from(["default", "short", "full"]),
        "sci_mode": st.sampled_from([None, True, False]),
    },
)


@HYPO
@given(arrays(), option_sets)
def test_hypothesis_with_options(arr, opts):
    with both_printoptions(**opts):
        check(arr)


BIG_SHAPES = [(1001,), (2500,), (3, 400), (40, 30), (2, 3, 200), (11, 10, 10), (4, 5, 6, 10), (7, 1, 200)]


@settings(HYPO, max_examples=60)
@given(
    st.sampled_from(BIG_SHAPES),
    st.sampled_from(ALL_DTYPES),
    st.sampled_from(["normal", "ints", "wide", "special"]),
    st.integers(0, 2**32 - 1),
    st.sampled_from([{}, {"edgeitems": 1}, {"edgeitems": 0}, {"precision": 2, "linewidth": 50}]),
)
def test_hypothesis_summarized(shape, dtype, regime, seed, opts):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if regime == "normal":
        base = rng.standard_normal(shape)
    elif regime == "ints":
        base = rng.integers(-100, 100, shape).astype(np.float64)
    elif regime == "wide":
        base = rng.standard_normal(shape) * 10.0 ** rng.integers(-8, 9, shape)
    else:
        base = rng.choice(np.array([0.0, -0.0, _nan, _inf, -_inf, 2.0, 0.5]), shape)
    if dtype.kind == "b":
        arr = base > 0
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        ints = np.nan_to_num(base * 50, nan=0.0, posinf=1e3, neginf=-1e3)
        arr = np.clip(ints, max(info.min, -1e6), min(info.max, 1e6)).astype(dtype)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            arr = base.astype(dtype)
    with both_printoptions(**opts):
        check(arr)

"""``tensor()`` from Python numbers keeps their precision when a dtype is asked for, as torch does."""
from __future__ import annotations

import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

VALUES = [1181.8684335181345, 0.1, 1e-300, 3.4e38 * 10, 2 ** 60 + 1, [0.1, 1 / 3], [[2 ** 53 + 1, 7]],
          float("inf"), float("nan"), -1.0, 300, [1e19, 1.0]]


@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("dt", ["float64", "float32", "float16", "int64", "int32", "uint8"])
def test_python_numbers_convert_once_to_the_asked_dtype(value, dt):
    try:
        theirs = torch.tensor(value, dtype=getattr(torch, dt))
    except RuntimeError as e:  # out of the integer range: the same refusal
        with pytest.raises(RuntimeError) as info:
            tg.tensor(value, dtype=getattr(tg, dt))
        assert str(info.value) == str(e)
        return
    ours = tg.tensor(value, dtype=getattr(tg, dt))
    assert str(ours.dtype) == str(theirs.dtype)
    assert repr(ours.tolist()) == repr(theirs.tolist())  # repr: NaN equals NaN


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_without_a_dtype_floats_take_the_default(value):
    ours, theirs = tg.tensor(value), torch.tensor(value)
    assert str(ours.dtype) == str(theirs.dtype)
    assert repr(ours.tolist()) == repr(theirs.tolist())  # repr: NaN equals NaN

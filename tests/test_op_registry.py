"""The op registry (``tapegrad/ops/_registry.py``) is the one source of the public ops.

Every declared op must have its rows in the three op tables, so a new op cannot ship
untested: gradcheck and gradgradcheck (tests/test_gradcheck_ops.py, whose rows also drive
forward mode in tests/test_forward_ad_table.py) and torch parity
(tests/parity/test_ops_parity.py). A row belongs to an op when its name is one of the op's
names (or an entry of ``ROW_NAMES``), alone or followed by ``_`` and a variant
(``sum_dim``), or by ``[`` and the shapes in the parity table (``exp[3, 4]``).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import tapegrad as tg
from tapegrad import Tensor
from tapegrad.ops import _dispatch, _registry

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

#: Rows named after another spelling of the op.
ROW_NAMES = {
    "floor_divide": ("floordiv",),
    "remainder": ("mod",),
}

#: Ops with no gradcheck/forward row, and why.
NO_GRADCHECK = {
    "floor_divide": "PyTorch records it without a derivative (NotImplemented); parity checks the error",
    "argmax": "integer result", "argmin": "integer result",
    "all": "bool result", "any": "bool result", "count_nonzero": "integer result",
    "nonzero": "integer result", "argwhere": "integer result",
    "broadcast_shapes": "takes shapes and returns a Size: no tensor in or out",
    "equal": "a Python bool", "allclose": "a Python bool",
    "argsort": "integer result", "searchsorted": "integer result", "bucketize": "integer result",
    "tril_indices": "integer result", "triu_indices": "integer result",
    "histc": "counts: PyTorch's result never requires grad",
    "unique": "PyTorch records it without a derivative (backward raises); parity checks the error",
    "unique_consecutive": "PyTorch records it without a derivative (backward raises); parity checks "
                          "the error",
    "nan_to_num": "forward mode drops the tangent (the op tests requires_grad, which a dual "
                  "tensor does not set); reverse mode is checked by parity. A defect to fix",
}
NO_GRADCHECK.update({s.name: "bool or integer result, no derivative"
                     for s in _registry.specs() if s.kind == "comparison"})

#: Ops with no parity row, and why.
NO_PARITY = {
    "broadcast_shapes": "returns a torch.Size, not a tensor, and records nothing",
}


def _row_names(module, attr):
    if module == "test_ops_parity":
        pytest.importorskip("torch")
        sys.path.insert(0, str(HERE / "parity"))
    mod = __import__(module)
    if attr == "ROWS":
        return {r.name for r in mod.ROWS}
    return {c.id for c in mod.CASES}


def _has_row(spec, names):
    keys = spec.names + ROW_NAMES.get(spec.name, ())
    return any(re.fullmatch(rf"{re.escape(k)}([_\[].*)?", n) for k in keys for n in names)


@pytest.fixture(scope="module")
def gradcheck_rows():
    return _row_names("test_gradcheck_ops", "ROWS")


@pytest.fixture(scope="module")
def parity_rows():
    return _row_names("test_ops_parity", "CASES")


def test_every_op_has_gradcheck_and_forward_rows(gradcheck_rows):
    missing = [s.name for s in _registry.specs()
               if s.name not in NO_GRADCHECK and not _has_row(s, gradcheck_rows)]
    assert not missing, f"ops without a row in tests/test_gradcheck_ops.py: {missing}"


def test_every_op_has_a_parity_row(parity_rows):
    missing = [s.name for s in _registry.specs()
               if s.name not in NO_PARITY and not _has_row(s, parity_rows)]
    assert not missing, f"ops without a row in tests/parity/test_ops_parity.py: {missing}"


def test_exemptions_name_registered_ops():
    names = {s.name for s in _registry.specs()}
    assert set(NO_GRADCHECK) <= names and set(NO_PARITY) <= names and set(ROW_NAMES) <= names


def test_kinds_come_from_the_vocabulary():
    assert {s.kind for s in _registry.specs()} <= set(_registry.KINDS)


def test_exports_methods_and_inplace_are_generated_for_every_spec():
    for s in _registry.specs():
        for n in s.names:
            if s.function:
                assert getattr(tg, n) is s.public, n
            else:
                assert not hasattr(tg, n) or getattr(tg, n) is not s.fn, n
            if s.method:
                assert getattr(Tensor, n) is s.public_method, n
            if s.inplace:
                assert getattr(Tensor, n + "_") is getattr(Tensor, s.name + "_"), n
                assert callable(getattr(Tensor, n + "_")), n


def test_method_and_function_are_one_object():
    assert Tensor.exp is tg.exp and Tensor.sum is tg.sum and tg.subtract is tg.sub
    assert Tensor.arcsin is tg.asin and Tensor.subtract_ is Tensor.sub_


def test_every_public_op_goes_through_the_dispatch_point_once(monkeypatch):
    """``build`` calls ``_dispatch.public`` once per function (method forms included)."""
    calls = []
    monkeypatch.setattr(_dispatch, "public", lambda fn, name, kind: calls.append(name) or fn)
    saved = [(s, s.public, s.public_method) for s in _registry.specs()]
    monkeypatch.setattr(_registry, "_BUILT", False)
    try:
        _registry.build()
        expected = [s.name for s in _registry.specs()] + \
            [s.name for s in _registry.specs() if s.method_fn is not None]
        assert sorted(calls) == sorted(expected)
    finally:
        for s, pub, meth in saved:
            s.public, s.public_method = pub, meth


def test_registry_is_the_only_source_of_op_names():
    """No op name list is written by hand: ``__init__`` and ``_tensor_methods`` take the
    ops from the registry."""
    src = Path(tg.__file__).parent
    init = (src / "__init__.py").read_text()
    methods = (src / "_tensor_methods.py").read_text()
    assert "from .ops.elementwise import" not in init and "_registry.exports()" in init
    assert "_METHODS" not in methods and "_INPLACE" not in methods
    assert "install_methods(Tensor)" in methods


def test_a_name_is_declared_once():
    with pytest.raises(ValueError, match="declared twice"):
        _registry.op("unary")(tg.ops.elementwise.exp)
    with pytest.raises(ValueError, match="unknown op kind"):
        _registry.op("elementwise-ish")


def test_every_op_has_a_docstring():
    missing = [s.name for s in _registry.specs() if not (s.fn.__doc__ or "").strip()]
    assert not missing, f"ops without a docstring: {missing}"


def test_docstring_examples_print_what_they_say():
    import doctest
    finder, runner = doctest.DocTestFinder(recurse=False), doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tried = 0
    for s in _registry.specs():
        for test in finder.find(s.fn, s.name, globs={"torch": tg, "tapegrad": tg}):
            tried += len(test.examples)
            runner.run(test)
    assert tried >= 5
    assert runner.failures == 0, "see the doctest output above"

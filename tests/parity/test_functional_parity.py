"""tapegrad.autograd.functional against torch.autograd.functional, in float64.

One table of functions (elementwise, matmul, reductions, broadcasting, tuple inputs,
tuple outputs, scalar outputs). Every function is written with tensor methods and
operators only, so the same callable runs on tapegrad and torch tensors. For each row
``vjp``, ``jvp`` and ``jacobian`` (reverse mode, ``vectorize=True`` and forward mode)
must give torch's values *and* nesting (tensor / tuple / tuple of tuples, even the
lists that torch's forward-mode path returns); scalar rows also check ``hessian``
(both outer strategies), ``hvp`` and ``vhp``. Then ``create_graph=True`` (results
require grad, and a gradient taken through them matches torch's), ``strict=True``
errors and the errors for bad arguments (same exception type, same message).
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.autograd.functional as TF  # noqa: E402

import tapegrad as tg  # noqa: E402
from tapegrad.autograd import functional as F  # noqa: E402

TOL = dict(rtol=1e-10, atol=1e-12)


# name: (func, input shapes (a tuple of shapes = tuple inputs; one shape = a single tensor),
#        scalar output?)
ROWS = {
    "exp": (lambda x: x.exp(), (3,), False),
    "sin_mul": (lambda x: x.sin() * x, (2, 3), False),
    "tanh_sq": (lambda x: x.tanh() ** 2, (4,), False),
    "sum_dim": (lambda x: (x * x).exp().sum(1), (2, 3), False),
    "matvec": (lambda a, b: a @ b, ((2, 3), (3,)), False),
    "matmul": (lambda a, b: (a @ b).tanh(), ((2, 3), (3, 2)), False),
    "broadcast": (lambda x, y: x * y + y.exp(), ((2, 3), (3,)), False),
    "two_out": (lambda x: (x.exp(), x.sin().sum()), (3,), False),
    "tuple_tuple": (lambda x, y: ((x * y).sum(1), (x @ y).sin(), y * 2), ((2, 3), (3,)), False),
    "one_elem_out": (lambda x: (x ** 3).sum().reshape(1), (3,), True),
    "sum_cube": (lambda x: (x ** 3).sum(), (2, 2), True),
    "logsumexp": (lambda x: x.exp().sum().log(), (4,), True),
    "mean_quad": (lambda x, y: ((x @ y) ** 2).mean() + (x * x).sum() * y.sin().sum(),
                  ((2, 3), (3,)), True),
    "scalar_in": (lambda x: x.sin() * x.exp(), (), True),
    "bilinear": (lambda x, y: (x * y).sum(), ((3,), (3,)), True),
}


def _arrays(name, shapes):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    if shapes and isinstance(shapes[0], tuple):
        return tuple(rng.uniform(-1.5, 1.5, s) for s in shapes)
    return rng.uniform(-1.5, 1.5, shapes)


def _wrap(lib, a):
    if isinstance(a, tuple):
        return tuple(lib.tensor(x, dtype=lib.float64) for x in a)
    return lib.tensor(a, dtype=lib.float64)


def _like(name, ref, salt):
    """Random arrays shaped like ``ref`` (a torch tensor or a nesting of them)."""
    rng = np.random.default_rng(zlib.crc32((name + salt).encode()))
    if isinstance(ref, (tuple, list)):
        return tuple(rng.standard_normal(tuple(r.shape)) for r in ref)
    return rng.standard_normal(tuple(ref.shape))


def assert_same(ours, theirs, path="result", tol=TOL, check_rg=True):
    """Same nesting (exact container types) and same values, shapes, dtypes, requires_grad."""
    if isinstance(theirs, (tuple, list)):
        assert type(ours) is type(theirs), f"{path}: {type(ours).__name__} != {type(theirs).__name__}"
        assert len(ours) == len(theirs), f"{path}: length {len(ours)} != {len(theirs)}"
        for i, (o, t) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(o, t, f"{path}[{i}]", tol, check_rg)
        return
    assert isinstance(ours, tg.Tensor), f"{path}: {type(ours).__name__} is not a Tensor"
    assert tuple(ours.shape) == tuple(theirs.shape), f"{path}: {tuple(ours.shape)} != {tuple(theirs.shape)}"
    assert str(ours.dtype) == str(theirs.dtype), path
    if check_rg:
        assert ours.requires_grad == theirs.requires_grad, f"{path}: requires_grad"
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), err_msg=path, **tol)


def _run(name, fn_name, **kw):
    """Call ``fn_name`` of both libraries on row ``name``; ``kw`` values may be
    callables ``(lib, torch_output) -> argument``."""
    func, shapes, _ = ROWS[name]
    a = _arrays(name, shapes)
    res = []
    for lib, mod in ((tg, F), (torch, TF)):
        args = {k: (v(lib) if callable(v) else v) for k, v in kw.items()}
        res.append(getattr(mod, fn_name)(func, _wrap(lib, a), **args))
    return res


@pytest.mark.parametrize("name", ROWS)
@pytest.mark.parametrize("create_graph", [False, True])
def test_vjp(name, create_graph):
    func, shapes, _ = ROWS[name]
    out = func(*_as_t(_wrap(torch, _arrays(name, shapes))))
    v = _like(name, out, "v")
    ours, theirs = _run(name, "vjp", v=lambda lib: _wrap(lib, v), create_graph=create_graph)
    assert_same(ours, theirs)


@pytest.mark.parametrize("name", ROWS)
@pytest.mark.parametrize("create_graph", [False, True])
def test_jvp(name, create_graph):
    _, shapes, _ = ROWS[name]
    v = _like(name, _wrap(torch, _arrays(name, shapes)), "u")
    if not isinstance(shapes[0] if shapes else None, tuple):
        v = v[0] if isinstance(v, tuple) else v
    ours, theirs = _run(name, "jvp", v=lambda lib: _wrap(lib, v), create_graph=create_graph)
    assert_same(ours, theirs)


@pytest.mark.parametrize("name", ROWS)
@pytest.mark.parametrize("kw", [dict(), dict(create_graph=True), dict(vectorize=True),
                                dict(vectorize=True, strategy="forward-mode")],
                         ids=["reverse", "create_graph", "vectorize", "forward"])
def test_jacobian(name, kw):
    ours, theirs = _run(name, "jacobian", **kw)
    assert_same(ours, theirs)


SCALAR = [n for n, r in ROWS.items() if r[2]]


@pytest.mark.parametrize("name", SCALAR)
@pytest.mark.parametrize("kw", [dict(), dict(create_graph=True), dict(vectorize=True),
                                dict(vectorize=True, outer_jacobian_strategy="forward-mode")],
                         ids=["reverse", "create_graph", "vectorize", "forward"])
def test_hessian(name, kw):
    ours, theirs = _run(name, "hessian", **kw)
    forward = kw.get("outer_jacobian_strategy") == "forward-mode"
    # torch's forward-over-reverse hessian leaks a grad_fn into its result (its _jacfwd
    # never detaches); tapegrad detaches, as every other create_graph=False result is.
    assert_same(ours, theirs, check_rg=not forward)
    if forward:
        _walk_no_grad(ours)


def _walk_no_grad(r):
    if isinstance(r, (tuple, list)):
        for e in r:
            _walk_no_grad(e)
    else:
        assert not r.requires_grad


@pytest.mark.parametrize("name", SCALAR)
@pytest.mark.parametrize("fn", ["hvp", "vhp"])
@pytest.mark.parametrize("create_graph", [False, True])
def test_hvp_vhp(name, fn, create_graph):
    _, shapes, _ = ROWS[name]
    v = _like(name, _wrap(torch, _arrays(name, shapes)), "h")
    if not (shapes and isinstance(shapes[0], tuple)):
        v = v[0] if isinstance(v, tuple) else v
    ours, theirs = _run(name, fn, v=lambda lib: _wrap(lib, v), create_graph=create_graph)
    assert_same(ours, theirs)


def _as_t(x):
    return x if isinstance(x, tuple) else (x,)


def test_default_v_for_single_element():
    for fn in ("vjp", "jvp", "hvp", "vhp"):
        ours, theirs = _run("scalar_in", fn)
        assert_same(ours, theirs, fn)
    ours, theirs = _run("one_elem_out", "vjp")
    assert_same(ours, theirs)


# ---------------------------------------------------------------------------
# create_graph=True: a gradient through the results matches torch's
# ---------------------------------------------------------------------------

def _grad_through(lib, mod, fn, func, a, v=None):
    x = _wrap(lib, a)
    x = tuple(t.requires_grad_() for t in x) if isinstance(x, tuple) else x.requires_grad_()
    kw = dict(create_graph=True)
    if v is not None:
        kw["v"] = _wrap(lib, v)
        vv = kw["v"]
        kw["v"] = tuple(t.requires_grad_() for t in vv) if isinstance(vv, tuple) else vv.requires_grad_()
    res = getattr(mod, fn)(func, x, **kw)
    flat = []

    def walk(r):
        if isinstance(r, (tuple, list)):
            for e in r:
                walk(e)
        else:
            flat.append(r)
    walk(res)
    total = sum(((r * r).sum() for r in flat if r.requires_grad), lib.zeros((), dtype=lib.float64))
    leaves = _as_t(x) + (_as_t(kw["v"]) if v is not None else ())
    return lib.autograd.grad(total, leaves, allow_unused=True)


@pytest.mark.parametrize("fn,name", [("vjp", "tuple_tuple"), ("jvp", "matmul"), ("jacobian", "broadcast"),
                                     ("hessian", "mean_quad"), ("hvp", "mean_quad"),
                                     ("vhp", "logsumexp"), ("jacobian", "two_out")])
def test_create_graph_gradient_matches_torch(fn, name):
    func, shapes, _ = ROWS[name]
    a = _arrays(name, shapes)
    v = None
    if fn == "vjp":
        v = _like(name, func(*_as_t(_wrap(torch, a))), "v")
    elif fn in ("jvp", "hvp", "vhp"):
        v = _like(name, _wrap(torch, a), "u")
        if not isinstance(a, tuple):
            v = v[0] if isinstance(v, tuple) else v
    ours = _grad_through(tg, F, fn, func, a, v)
    theirs = _grad_through(torch, TF, fn, func, a, v)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs, strict=True):
        assert (o is None) == (t is None)
        if o is not None:
            np.testing.assert_allclose(o.numpy(), t.numpy(), **TOL)


# ---------------------------------------------------------------------------
# Errors: same type and message as torch
# ---------------------------------------------------------------------------

def _same_error(call):
    with pytest.raises(Exception) as theirs:
        call(torch, TF)
    with pytest.raises(type(theirs.value)) as ours:
        call(tg, F)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)
    return str(ours.value)


def _x(lib, *shape):
    return lib.ones(*shape, dtype=lib.float64)


@pytest.mark.parametrize("fn", ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"])
def test_non_tensor_outputs(fn):
    kw = {"vjp": dict(v=None), "jvp": dict(v=None), "hvp": dict(v=None), "vhp": dict(v=None)}.get(fn, {})
    msg = _same_error(lambda lib, m: getattr(m, fn)(lambda x: 3, _x(lib, 1), **kw))
    assert "has type <class 'int'>" in msg
    _same_error(lambda lib, m: getattr(m, fn)(lambda x: (x.sum(), 3), _x(lib, 1), **kw))


@pytest.mark.parametrize("fn", ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"])
def test_non_tensor_inputs(fn):
    _same_error(lambda lib, m: getattr(m, fn)(lambda x: x, 3.0))
    _same_error(lambda lib, m: getattr(m, fn)(lambda x, y: x, (_x(lib, 1), [1.0])))


def test_vjp_message_text():
    with pytest.raises(TypeError) as e:
        F.vjp(lambda x: 3, tg.ones(1))
    assert str(e.value) == (
        "The outputs of the user-provided function given to vjp must be either a Tensor or a "
        "tuple of Tensors but the given outputs of the user-provided function has type <class 'int'>.")


@pytest.mark.parametrize("fn", ["vjp", "jvp", "hvp", "vhp"])
def test_v_errors(fn):
    sq = lambda x: (x * x).sum()  # noqa: E731
    f = sq if fn in ("hvp", "vhp") else (lambda x: x * 2)
    # v of the wrong size
    _same_error(lambda lib, m: getattr(m, fn)(f, _x(lib, 3), _x(lib, 4)))
    # v None where the input/output has several elements
    _same_error(lambda lib, m: getattr(m, fn)(f, _x(lib, 3)))
    # several v for a single tensor
    _same_error(lambda lib, m: getattr(m, fn)(f, _x(lib, 3), (_x(lib, 3), _x(lib, 3))))
    # tuple of the wrong length / wrong entry size for tuple inputs (outputs for vjp)
    g = (lambda x, y: (x * y).sum()) if fn in ("hvp", "vhp") else (lambda x, y: (x * 2, y * 2))
    _same_error(lambda lib, m: getattr(m, fn)(g, (_x(lib, 3), _x(lib, 3)), (_x(lib, 3),)))
    _same_error(lambda lib, m: getattr(m, fn)(g, (_x(lib, 3), _x(lib, 3)), (_x(lib, 3), _x(lib, 2))))
    # a non-tensor v
    _same_error(lambda lib, m: getattr(m, fn)(f, _x(lib, 3), 1.0))


@pytest.mark.parametrize("fn", ["hessian", "hvp", "vhp"])
def test_hessian_needs_single_element_output(fn):
    kw = {} if fn == "hessian" else dict(v=None)
    _same_error(lambda lib, m: getattr(m, fn)(lambda x: x * x, _x(lib, 2), **kw))
    _same_error(lambda lib, m: getattr(m, fn)(lambda x: (x * x, x), _x(lib, 2), **kw))


def test_jacobian_strategy_errors():
    f = lambda x: x * x  # noqa: E731
    _same_error(lambda lib, m: m.jacobian(f, _x(lib, 2), strategy="nope"))
    _same_error(lambda lib, m: m.jacobian(f, _x(lib, 2), strategy="forward-mode"))
    _same_error(lambda lib, m: m.jacobian(f, _x(lib, 2), strategy="forward-mode", vectorize=True,
                                          create_graph=True))
    _same_error(lambda lib, m: m.jacobian(f, _x(lib, 2), strategy="forward-mode", vectorize=True,
                                          strict=True))
    _same_error(lambda lib, m: m.jacobian(f, _x(lib, 2), vectorize=True, strict=True))
    _same_error(lambda lib, m: m.hessian(lambda x: x.sum(), _x(lib, 2), outer_jacobian_strategy="x"))
    _same_error(lambda lib, m: m.hessian(lambda x: (x * x).sum(), _x(lib, 2),
                                         outer_jacobian_strategy="forward-mode"))


# strict=True: (function, inputs builder, kwargs) triples where torch raises
def _indep(x, y):
    return x * 2


def _const(x):
    return x.detach() * 2


def _linear(x):
    return (x * 2).sum()


STRICT_CASES = [
    ("vjp", _indep, 2, dict(v=lambda lib: _x(lib, 3))),
    ("vjp", _const, 1, dict(v=lambda lib: _x(lib, 3))),
    ("jvp", _indep, 2, dict(v=lambda lib: (_x(lib, 3), _x(lib, 3)))),
    ("jvp", _const, 1, dict(v=lambda lib: _x(lib, 3))),
    ("jacobian", _indep, 2, {}),
    ("jacobian", _const, 1, {}),
    ("jacobian", lambda x, y: x * 2, 2, dict(create_graph=True)),
    ("hessian", _linear, 1, {}),
    ("hessian", lambda x, y: (x * x).sum(), 2, {}),
    ("hvp", _linear, 1, dict(v=lambda lib: _x(lib, 3))),
    ("vhp", _linear, 1, dict(v=lambda lib: _x(lib, 3))),
    ("vhp", lambda x, y: (x * x).sum(), 2, dict(v=lambda lib: (_x(lib, 3), _x(lib, 3)))),
    ("vjp", lambda x: x * 2, 1, dict(v=lambda lib: _x(lib, 3), create_graph=True)),
]


@pytest.mark.parametrize("case", range(len(STRICT_CASES)))
def test_strict_errors(case):
    fn, f, n, kw = STRICT_CASES[case]

    def call(lib, m):
        args = {k: (v(lib) if callable(v) else v) for k, v in kw.items()}
        inp = _x(lib, 3) if n == 1 else (_x(lib, 3), _x(lib, 3))
        return getattr(m, fn)(f, inp, strict=True, **args)
    msg = _same_error(call)
    assert "strict mode" in msg


@pytest.mark.parametrize("case", range(len(STRICT_CASES)))
def test_non_strict_gives_zeros_like_torch(case):
    fn, f, n, kw = STRICT_CASES[case]
    res = []
    for lib, m in ((tg, F), (torch, TF)):
        args = {k: (v(lib) if callable(v) else v) for k, v in kw.items()}
        inp = _x(lib, 3) if n == 1 else (_x(lib, 3), _x(lib, 3))
        res.append(getattr(m, fn)(f, inp, **args))
    assert_same(*res)

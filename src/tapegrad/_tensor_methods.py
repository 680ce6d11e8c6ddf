"""Attach the ops to ``Tensor``: methods, operators and the methods that are not ops.

The methods of the ops, their aliases and in-place variants come from the op registry
(``ops/_registry.py``): a method is the same object as its top-level counterpart
(``Tensor.exp is tapegrad.exp``), so there is one implementation of each op. This
module adds what the registry does not describe: the operators (``+``, ``+=``, ``==``...,
with fast paths that call the op classes directly), indexing, the random in-place fills
used by ``nn.init`` and a few compatibility methods.
"""
from __future__ import annotations

from .ops import elementwise as E
from .ops import indexing as I
from .ops import inplace as P
from .ops import linalg as L
from .ops import _registry
from .tensor import Tensor

# Every op declared in ops/*.py: its method, aliases and in-place variants (``exp``,
# ``arcsin``, ``exp_``, ``add_``, ``copy_``...).
_registry.install_methods(Tensor)
Tensor.__getitem__ = I.getitem
Tensor.__setitem__ = I.setitem


# ----------------------------------------------------------------- operators
def _binary(fn, reflected=None):
    def op(self, other):
        o = E._other(other)
        if o is NotImplemented:
            return NotImplemented
        return fn(self, o)

    def rop(self, other):
        o = E._other(other)
        if o is NotImplemented:
            return NotImplemented
        return reflected(self, o)
    return op, (rop if reflected else None)


def _radd(self, other):
    return E.Add.apply(self, other) if not isinstance(other, Tensor) else E.add(other, self)


def _rmul(self, other):
    return E.Mul.apply(self, other) if not isinstance(other, Tensor) else E.mul(other, self)


def _rsub(self, other):
    return E.Rsub.apply(self, other) if not isinstance(other, Tensor) else E.sub(other, self)


def _rdiv(self, other):
    return E.Rdiv.apply(self, other) if not isinstance(other, Tensor) else E.div(other, self)


def _rpow(self, other):
    return E.pow(other, self)


def _rmatmul(self, other):
    return L.matmul(other, self)


def _rfloordiv(self, other):
    if not isinstance(other, Tensor) and E.dtypes.result_type(self, other).is_floating_point:
        # scalar // tensor: the scalar keeps Python-scalar promotion; no derivative (as in torch)
        return E.NotImplementedGrad.apply(self, other, fn=lambda a, b: E.xp.floor_divide(b, a),
                                          op="floor_divide")
    return E.floor_divide(other if isinstance(other, Tensor) else E._as_t(other), self)


def _rmod(self, other):
    return E.remainder(other, self)  # a scalar ``other``: remainder(Scalar, Tensor)


def _and(self, other):
    return (E.logical_and if self._data.dtype.kind == "b" else E.bitwise_and)(self, other)


def _or(self, other):
    return (E.logical_or if self._data.dtype.kind == "b" else E.bitwise_or)(self, other)


def _xor(self, other):
    return (E.logical_xor if self._data.dtype.kind == "b" else E.bitwise_xor)(self, other)


def _invert(self):
    return E.logical_not(self) if self._data.dtype.kind == "b" else E.bitwise_not(self)


# Fast paths: the operators call the op classes directly (no keyword plumbing).
def _add(self, other):
    if isinstance(other, (Tensor, int, float)):
        return E.Add.apply(self, other)
    o = E._other(other)
    return NotImplemented if o is NotImplemented else E.Add.apply(self, o)


def _mul(self, other):
    if isinstance(other, (Tensor, int, float)):
        return E.Mul.apply(self, other)
    o = E._other(other)
    return NotImplemented if o is NotImplemented else E.Mul.apply(self, o)


def _sub(self, other):
    if isinstance(other, (Tensor, int, float)) and self._data.dtype.kind != "b":
        return E.Sub.apply(self, other)
    o = E._other(other)
    return NotImplemented if o is NotImplemented else E.sub(self, o)


def _truediv(self, other):
    if isinstance(other, (Tensor, int, float)):
        return E.Div.apply(self, other)
    o = E._other(other)
    return NotImplemented if o is NotImplemented else E.Div.apply(self, o)


def _pow(self, other):
    if isinstance(other, (int, float)) and self._data.dtype.kind == "f":
        return E.Pow.apply(self, other)
    o = E._other(other)
    return NotImplemented if o is NotImplemented else E.pow(self, o)


def _matmul(self, other):
    if not isinstance(other, Tensor):
        return NotImplemented
    return L.matmul(self, other)


def _cmp(fn):
    def op(self, other):
        o = E._other(other)
        if o is NotImplemented:
            return NotImplemented
        return fn(self, o)
    return op


Tensor.__add__ = _add
Tensor.__radd__ = _radd
Tensor.__sub__ = _sub
Tensor.__rsub__ = _binary(None, _rsub)[1]
if True:  # the common scalar cases skip the coercion step
    _rsub_slow = Tensor.__rsub__
    _rmul_slow = _binary(None, _rmul)[1]
    _radd_slow = _binary(None, _radd)[1]

    def __rsub__(self, other):
        if isinstance(other, (int, float)) and self._data.dtype.kind != "b":
            return E.Rsub.apply(self, other)
        return _rsub_slow(self, other)

    def __rmul__(self, other):
        if isinstance(other, (int, float)):
            return E.Mul.apply(self, other)
        return _rmul_slow(self, other)

    def __radd__(self, other):
        if isinstance(other, (int, float)):
            return E.Add.apply(self, other)
        return _radd_slow(self, other)

    Tensor.__rsub__ = __rsub__
    Tensor.__radd__ = __radd__
Tensor.__mul__ = _mul
Tensor.__rmul__ = __rmul__
Tensor.__truediv__ = _truediv
Tensor.__rtruediv__ = _binary(None, _rdiv)[1]
Tensor.__pow__ = _pow
Tensor.__rpow__ = _binary(None, _rpow)[1]
Tensor.__matmul__ = _matmul
Tensor.__rmatmul__ = lambda self, other: (
    _rmatmul(self, other) if isinstance(other, Tensor) else NotImplemented)
Tensor.__floordiv__ = _binary(E.floor_divide)[0]
Tensor.__rfloordiv__ = _binary(None, _rfloordiv)[1]
Tensor.__mod__ = _binary(E.remainder)[0]
Tensor.__rmod__ = _binary(None, _rmod)[1]
Tensor.__neg__ = E.neg
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = E.abs
Tensor.__invert__ = _invert
Tensor.__and__ = Tensor.__rand__ = _cmp(_and)
Tensor.__or__ = Tensor.__ror__ = _cmp(_or)
Tensor.__xor__ = Tensor.__rxor__ = _cmp(_xor)
Tensor.__eq__ = _cmp(E.eq)
Tensor.__ne__ = _cmp(E.ne)
Tensor.__lt__ = _cmp(E.lt)
Tensor.__le__ = _cmp(E.le)
Tensor.__gt__ = _cmp(E.gt)
Tensor.__ge__ = _cmp(E.ge)


# ----------------------------------------------------------------- in-place operators
def _iop(name):
    method = getattr(Tensor, name)

    def op(self, other):
        o = E._other(other)
        if o is NotImplemented:
            return NotImplemented
        return method(self, o)
    return op


Tensor.__iadd__ = _iop("add_")
Tensor.__isub__ = _iop("sub_")
Tensor.__imul__ = _iop("mul_")
Tensor.__itruediv__ = _iop("div_")
Tensor.__ipow__ = _iop("pow_")
Tensor.__ifloordiv__ = _iop("floor_divide_")
Tensor.__imod__ = _iop("remainder_")
Tensor.__iand__ = lambda self, o: P.make_inplace(_and, "__iand__")(self, o)
Tensor.__ior__ = lambda self, o: P.make_inplace(_or, "__ior__")(self, o)
Tensor.__ixor__ = lambda self, o: P.make_inplace(_xor, "__ixor__")(self, o)


# ----------------------------------------------------------------- random in-place (nn.init)
def _random_fill(name, sample):
    def method(self, *args, generator=None, **kwargs):
        self._check_inplace()
        from .creation import _rng
        arr = sample(_rng(generator), self._data.shape, *args, **kwargs)
        P._write(self, E.xp.asarray(arr).astype(self._data.dtype, copy=False), name)
        self._record_inplace(name)
        return self
    method.__name__ = name
    return method


Tensor.uniform_ = _random_fill("uniform_", lambda r, s, a=0.0, b=1.0: r.uniform(a, b, s))
Tensor.normal_ = _random_fill("normal_", lambda r, s, mean=0.0, std=1.0: r.normal(mean, std, s))
Tensor.bernoulli_ = _random_fill("bernoulli_", lambda r, s, p=0.5: r.random(s) < p)
Tensor.exponential_ = _random_fill("exponential_", lambda r, s, lambd=1.0: r.exponential(1 / lambd, s))
Tensor.geometric_ = _random_fill("geometric_", lambda r, s, p: r.geometric(p, s))
Tensor.log_normal_ = _random_fill("log_normal_", lambda r, s, mean=1.0, std=2.0: r.lognormal(mean, std, s))
Tensor.cauchy_ = _random_fill(
    "cauchy_", lambda r, s, median=0.0, sigma=1.0: median + sigma * r.standard_cauchy(s))


def _random_(r, s, frm=0, to=None):
    if to is None:
        frm, to = 0, frm if frm else 2 ** 24
    return r.integers(frm, to, s)


Tensor.random_ = _random_fill("random_", _random_)


def _bernoulli(self, p=None, *, generator=None):
    from .creation import bernoulli
    return bernoulli(self, p, generator=generator)


Tensor.bernoulli = _bernoulli


def _unsupported(name, hint):
    def f(self, *a, **k):
        raise NotImplementedError(f"Tensor.{name} is not supported by tapegrad: {hint}")
    return f


Tensor.is_floating_point = lambda self: self._data.dtype.kind == "f"
Tensor.is_complex = lambda self: False
Tensor.get_device = lambda self: -1
Tensor.pin_memory = lambda self: self
Tensor.share_memory_ = lambda self: self
Tensor.is_shared = lambda self: False
Tensor.is_pinned = lambda self: False

"""Elementwise ops: arithmetic, unary math, activations, comparisons.

Read each class as a row of a table of derivatives: ``forward`` computes on
arrays and saves what the derivative needs; ``backward`` returns the
vector-Jacobian product for each input. Gradients may keep the broadcast
shape: the engine sums them down to each input's shape.
"""

from __future__ import annotations

import math

from .. import backend as B

from .. import dtypes

from ..autograd import grad_mode
from ..autograd.graph import Node

from ._registry import op

from ._util import check_tensor

from ..tensor import Tensor

xp = B.xp


def _save(ctx, *arrays):
    ctx.saved = arrays


def _tangent(f):
    """A one-input op's forward-mode rule from ``f(x, t, y)``, the output's tangent for input
    ``x``, tangent ``t`` and output ``y``.

    A rule (``Node.jvp``, read by ``autograd/forward_ad.py``) takes the op's arguments, its
    options, one tangent or None per argument and the outputs, and returns one tangent per
    output, or None to fall back to the generic rule derived from ``backward``. Rules compute
    on tensors, so tangents stay differentiable in reverse mode.
    """
    def rule(args, options, tans, outputs):
        if options or len(args) != 1:
            return None
        return [f(args[0], tans[0], outputs[0])]
    return staticmethod(rule)


class Add(Node):
    promote = True

    def forward(ctx, a, b, alpha=1):
        ctx.alpha = alpha
        return a + b if alpha == 1 else a + b * alpha

    def backward(ctx, g):
        return g, (g if ctx.alpha == 1 else g * ctx.alpha)

    @staticmethod
    def jvp(args, options, tans, outputs):
        alpha = options.get("alpha", 1)
        ta, tb = tans[0], tans[1] if len(tans) > 1 else None
        if tb is not None and alpha != 1:
            tb = tb * alpha
        if ta is None:
            return [tb]
        return [ta if tb is None else ta + tb]


# =========================================================================== arithmetic
def _fast_inplace(ufunc):
    """``add_``/``sub_``/``mul_``/``div_``: ``ops.inplace``'s fast path writing straight into
    storage when no graph is needed (optimizer updates)."""
    def build(fn, name):
        from .inplace import _fast_arith
        return _fast_arith(ufunc, name)
    return build


@op("binary", nodes=(Add,), inplace=_fast_inplace(xp.add))
def add(input, other, *, alpha=1, out=None):
    """``input + alpha * other`` with broadcasting and type promotion."""
    check_tensor(input, "add")
    other = _other(other)
    if other is NotImplemented:
        raise TypeError("add(): argument 'other' must be Tensor or Number")
    return Add.apply(input, other, alpha=alpha)


class Sub(Node):
    promote = True

    def forward(ctx, a, b, alpha=1):
        ctx.alpha = alpha
        return a - b if alpha == 1 else a - b * alpha

    def backward(ctx, g):
        return g, (-g if ctx.alpha == 1 else g * -ctx.alpha)

    @staticmethod
    def jvp(args, options, tans, outputs):
        alpha = options.get("alpha", 1)
        ta, tb = tans[0], tans[1] if len(tans) > 1 else None
        if tb is not None:
            tb = -tb if alpha == 1 else tb * (-alpha)
        if ta is None:
            return [tb]
        return [ta if tb is None else ta + tb]


@op("binary", nodes=(Sub,), inplace=_fast_inplace(xp.subtract), aliases=("subtract",))
def sub(input, other, *, alpha=1, out=None):
    """``input - alpha * other``, broadcast; ``subtract`` is the same function.

    >>> torch.sub(torch.tensor([3., 4.]), 1, alpha=2)
    tensor([1., 2.])
    """
    check_tensor(input, "sub")
    other = _other(other)
    if other is NotImplemented:
        raise TypeError("sub(): argument 'other' must be Tensor or Number")
    if input._data.dtype == xp.bool_ or (getattr(other, "dtype", None) is dtypes.bool_):
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` "
            "or `logical_xor()` operator instead.")
    return Sub.apply(input, other, alpha=alpha)


class Rsub(Node):
    """``other - self`` with a scalar ``other`` (PyTorch's RsubBackward1)."""

    _bw_name = "RsubBackward1"
    promote = True
    n_edges = 1

    def forward(ctx, a, b):
        return b - a

    def backward(ctx, g):
        return -g


@op("binary", nodes=(Rsub,))
def rsub(input, other, alpha=1):
    """``other - alpha * input``, broadcast (``sub`` with the operands swapped)."""
    return Rsub.apply(input, other) if alpha == 1 else sub(_as_t(other), input, alpha=alpha)


class Mul(Node):
    promote = True

    def forward(ctx, a, b):
        n = ctx.needs_input_grad
        if n:
            # Save only what the wanted gradients need: d/da needs b, d/db needs a.
            ctx.saved = (a if n[1] else None, b if n[0] else None)
        return a * b

    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        return (g * b if n[0] else None), (g * a if n[1] else None)

    @staticmethod
    def jvp(args, options, tans, outputs):
        if options:
            return None
        (a, b), (ta, tb) = args, tans
        r = None if ta is None else ta * b
        if tb is not None:
            r = a * tb if r is None else r + a * tb
        return [r]


@op("binary", nodes=(Mul,), inplace=_fast_inplace(xp.multiply), aliases=("multiply",))
def mul(input, other, *, out=None):
    """``input * other``, broadcast to their common shape; ``multiply`` is the same function."""
    check_tensor(input, "mul")
    other = _other(other)
    if other is NotImplemented:
        raise TypeError("mul(): argument 'other' must be Tensor or Number")
    return Mul.apply(input, other)


class Div(Node):
    promote = True
    to_float = True

    def forward(ctx, a, b):
        n = ctx.needs_input_grad
        if n:
            ctx.saved = (a if n[1] else None, b)
        return a / b

    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        ga = g / b if n[0] else None
        gb = -g * a / (b * b) if n[1] else None
        return ga, gb

    @staticmethod
    def jvp(args, options, tans, outputs):
        if options:
            return None
        (_, b), (ta, tb) = args, tans
        r = None if ta is None else ta / b
        if tb is not None:
            r2 = -outputs[0] * tb / b
            r = r2 if r is None else r + r2
        return [r]


class Rdiv(Node):
    """``scalar / self``, computed as PyTorch does: ``reciprocal(self) * scalar`` (MulBackward0)."""

    _bw_name = "MulBackward0"
    promote = True
    to_float = True

    def forward(ctx, a, s):
        r = 1 / a
        ctx.saved = (a,)  # the input, not r: under create_graph only inputs/outputs stay in the graph
        ctx.s = s
        return r * s

    def backward(ctx, g):
        (a,) = ctx.saved
        r = Reciprocal.apply(a)
        return -(g * ctx.s) * (r * r), None


class Pow(Node):
    """``tensor ** scalar``"""

    _bw_name = "PowBackward0"
    promote = True
    n_edges = 1

    def forward(ctx, a, e):
        ctx.saved = (a,)
        ctx.e = e
        if e == 2:
            return a * a
        return a ** e

    def backward(ctx, g):
        (a,) = ctx.saved
        e = ctx.e
        if e == 0:
            return g * 0
        if e == 1:
            return g
        if e == 2:
            return g * (a * 2)
        return g * (e * a ** (e - 1))


class PowTensor(Node):
    """``tensor ** tensor``"""

    _bw_name = "PowBackward1"
    promote = True

    def forward(ctx, a, b):
        out = a ** b
        ctx.saved = (a, b, out)
        return out

    def backward(ctx, g):
        a, b, out = ctx.saved
        n = ctx.needs_input_grad
        ga = g * (b * a ** (b - 1)) if n[0] else None
        gb = None
        if n[1]:
            # d/db a^b = a^b log a, taken as 0 where a == 0 and b >= 0 (as PyTorch does)
            gb = g * where_(_logical_and(a == 0, b >= 0), 0.0, out * Log.apply(a))
        return ga, gb


class Rpow(Node):
    """``scalar ** tensor``"""

    _bw_name = "PowBackward2"
    promote = True
    n_edges = 1

    def forward(ctx, a, base):
        out = base ** a
        ctx.saved = (out,)
        ctx.base = base
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        if ctx.base == 0:
            return g * 0
        return g * out * math.log(ctx.base)


@op("binary", nodes=(Pow, PowTensor, Rpow), inplace=True)
def pow(input, exponent):
    """``input ** exponent``; either may be a scalar (but not both)."""
    if not isinstance(input, Tensor):
        exponent = _other(exponent)
        if not isinstance(exponent, Tensor):
            raise TypeError("pow(): at least one argument must be a Tensor")
        return Rpow.apply(exponent, input)
    exponent = _other(exponent)
    if isinstance(exponent, Tensor):
        return PowTensor.apply(input, exponent)
    if exponent is NotImplemented:
        raise TypeError("pow(): argument 'exponent' must be Tensor or Number")
    if input._data.dtype.kind in "iub" and isinstance(exponent, int) and exponent < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return Pow.apply(input, exponent)


@op("binary", nodes=(Pow, PowTensor, Rpow))
def float_power(input, exponent):
    """``input ** exponent`` computed in float64 (or complex128), as PyTorch does."""
    return pow(input.double(), exponent)


class Neg(Node):
    def forward(ctx, a):
        return -a

    def backward(ctx, g):
        return -g

    jvp = _tangent(lambda x, t, y: -t)


@op("unary", nodes=(Neg,), inplace=True, aliases=("negative",))
def neg(input):
    """``-input``, elementwise; ``negative`` is the same function."""
    check_tensor(input, "neg")
    if input._data.dtype == xp.bool_:
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
            "invert a mask, use the `~` or `logical_not()` operator instead.")
    return Neg.apply(input)


class Abs(Node):
    def forward(ctx, a):
        if a.dtype == xp.bool_:
            raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")
        ctx.saved = (a,)
        return xp.abs(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * Sign.apply(a)


class Sign(Node):
    def forward(ctx, a):
        return a.copy() if a.dtype == xp.bool_ else xp.sign(a)

    def backward(ctx, g):
        return g * 0


class Square(Node):
    _bw_name = "PowBackward0"
    promote = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return a * a

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * (a * 2)


@op("unary", nodes=(Square,), inplace=True)
def square(input):
    """``input * input``, elementwise (integers stay integers; bool becomes int64)."""
    if input._data.dtype == xp.bool_:  # PyTorch: pow(input, 2), so bool ** int -> int64
        input = input.to(dtypes.int64)
    return Square.apply(input)


# =========================================================================== unary math
class Exp(Node):
    to_float = True

    def forward(ctx, a):
        out = xp.exp(a)
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g * out

    jvp = _tangent(lambda x, t, y: t * x.exp())


class Exp2(Node):
    to_float = True

    def forward(ctx, a):
        out = xp.exp2(a)
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g * out * math.log(2.0)


class Expm1(Node):
    to_float = True

    def forward(ctx, a):
        out = xp.expm1(a)
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g * (out + 1)


class Log(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.log(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g / a

    jvp = _tangent(lambda x, t, y: t / x)


class Log2(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.log2(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g / (a * math.log(2.0))


class Log10(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.log10(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g / (a * math.log(10.0))


class Log1p(Node):
    _bw_name = "Log1PBackward0"
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.log1p(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g / (a + 1)


class Sqrt(Node):
    to_float = True

    def forward(ctx, a):
        out = xp.sqrt(a)
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g / (out * 2)


class Rsqrt(Node):
    to_float = True

    def forward(ctx, a):
        out = 1 / xp.sqrt(a)
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g * (out * out * out) * -0.5


class Reciprocal(Node):
    to_float = True

    def forward(ctx, a):
        out = 1 / a
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return -g * (out * out)


class Sin(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.sin(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * Cos.apply(a)

    jvp = _tangent(lambda x, t, y: t * x.cos())


class Cos(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.cos(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return -g * Sin.apply(a)

    jvp = _tangent(lambda x, t, y: -t * x.sin())


class Tan(Node):
    to_float = True

    def forward(ctx, a):
        out = xp.tan(a)
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g * (out * out + 1)


class Asin(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.arcsin(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * Rsqrt.apply(1 - a * a)


class Acos(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.arccos(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return -g * Rsqrt.apply(1 - a * a)


class Atan(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.arctan(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g / (a * a + 1)


class Sinh(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.sinh(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * Cosh.apply(a)


class Cosh(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.cosh(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * Sinh.apply(a)


class Deg2Rad(Node):
    to_float = True

    def forward(ctx, a):
        return xp.deg2rad(a)

    def backward(ctx, g):
        return g * (math.pi / 180.0)


class Rad2Deg(Node):
    to_float = True

    def forward(ctx, a):
        return xp.rad2deg(a)

    def backward(ctx, g):
        return g * (180.0 / math.pi)


class Asinh(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.arcsinh(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * Rsqrt.apply(a * a + 1)


class Acosh(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.arccosh(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * Rsqrt.apply(a * a - 1)


class Atanh(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return xp.arctanh(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g / (1 - a * a)


class Tanh(Node):
    to_float = True

    def forward(ctx, a):
        out = xp.tanh(a)
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        if B.is_array(g) and out.ndim:
            # NOTE: lean path: one temporary, updated in place (3 passes instead of 4)
            t = out * out
            xp.subtract(1, t, out=t)
            t *= g
            return t
        return g * (1 - out * out)

    jvp = _tangent(lambda x, t, y: t * (1 - x.tanh() ** 2))


class Sigmoid(Node):
    to_float = True

    def forward(ctx, a):
        out = B.sigmoid(a)
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        return g * (out * (1 - out))

    jvp = _tangent(lambda x, t, y: t * (x.sigmoid() * (1 - x.sigmoid())))


class Erf(Node):
    to_float = True

    def forward(ctx, a):
        ctx.saved = (a,)
        return B.erf(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        return g * (2 / math.sqrt(math.pi)) * Exp.apply(-(a * a))


class Atan2(Node):
    promote = True
    to_float = True

    def forward(ctx, a, b):
        ctx.saved = (a, b)
        return xp.arctan2(a, b)

    def backward(ctx, g):
        a, b = ctx.saved
        den = a * a + b * b
        return g * b / den, -g * a / den


@op("binary", nodes=(Atan2,), inplace=True, aliases=("arctan2",))
def atan2(input, other):
    """The angle of the point ``(other, input)``, ``atan(input / other)`` in the right quadrant; broadcast."""
    return Atan2.apply(input, _other(other))


class Hypot(Node):
    """``sqrt(a**2 + b**2)`` without overflow in the squares (``numpy.hypot``)."""

    promote = True
    to_float = True

    def forward(ctx, a, b):
        out = xp.hypot(a, b)
        ctx.saved = (a, b, out)
        return out

    def backward(ctx, g):
        a, b, out = ctx.saved
        return g * a / out, g * b / out


@op("binary", nodes=(Hypot,), inplace=True)
def hypot(input, other):
    """``sqrt(input**2 + other**2)`` elementwise, broadcast, without overflow in the squares."""
    check_tensor(input, "hypot")
    return Hypot.apply(input, _other(other))


class Logaddexp(Node):
    """``log(exp(a) + exp(b))``, stable for large and infinite inputs (``numpy.logaddexp``)."""

    promote = True
    to_float = True

    def forward(ctx, a, b):
        out = xp.logaddexp(a, b)
        ctx.saved = (a, b, out)
        return out

    def backward(ctx, g):
        a, b, out = ctx.saved
        return g * Exp.apply(a - out), g * Exp.apply(b - out)


@op("binary", nodes=(Logaddexp,))
def logaddexp(input, other):
    """``log(exp(input) + exp(other))`` elementwise, broadcast, computed stably."""
    check_tensor(input, "logaddexp")
    return Logaddexp.apply(input, _other(other))


class Logaddexp2(Node):
    """``log2(2**a + 2**b)``, stable (``numpy.logaddexp2``). (Logaddexp's unit in base 2: a
    shared class cannot pick its ufunc from the class, as forward gets no node when nothing
    is recorded.)"""

    promote = True
    to_float = True

    def forward(ctx, a, b):
        out = xp.logaddexp2(a, b)
        ctx.saved = (a, b, out)
        return out

    def backward(ctx, g):
        a, b, out = ctx.saved
        return g * Exp2.apply(a - out), g * Exp2.apply(b - out)


@op("binary", nodes=(Logaddexp2,))
def logaddexp2(input, other):
    """``log2(2**input + 2**other)`` elementwise, broadcast, computed stably."""
    check_tensor(input, "logaddexp2")
    return Logaddexp2.apply(input, _other(other))


class Copysign(Node):
    """``|a|`` with the sign of ``b``; the derivative in ``a`` is ``sign(a) * sign(out)`` (0 at
    a = 0, as torch), in ``b`` zero."""

    promote = True
    to_float = True

    def forward(ctx, a, b):
        out = xp.copysign(a, b)
        ctx.saved = (a, out)
        return out

    def backward(ctx, g):
        a, out = ctx.saved
        return g * (Sign.apply(a) * Sign.apply(out)), g * 0


class CopysignScalar(Copysign):
    _bw_name = "CopysignBackward1"       # (torch's node when ``other`` is a number)


@op("binary", nodes=(Copysign, CopysignScalar), inplace=True)
def copysign(input, other):
    """``|input|`` with the sign of ``other`` (a tensor or a number; -0.0 counts as negative)."""
    check_tensor(input, "copysign")
    o = _other(other)
    return (Copysign if isinstance(o, Tensor) else CopysignScalar).apply(input, o)


class Ldexp(Node):
    """``a * 2**b`` in the promoted floating dtype (integers give the default float)."""

    promote = True
    to_float = True

    def forward(ctx, a, b):
        ctx.saved = (a, b)
        return a * xp.exp2(b)

    def backward(ctx, g):
        a, b = ctx.saved
        scale = Exp2.apply(b)
        n = ctx.needs_input_grad
        return (g * scale if n[0] else None), (g * a * scale * math.log(2.0) if n[1] else None)


@op("binary", nodes=(Ldexp,), inplace=True)
def ldexp(input, other):
    """``input * 2**other``, broadcast; ``other`` must be a tensor (integer or floating)."""
    check_tensor(input, "ldexp")
    if not isinstance(other, Tensor):
        raise TypeError(f"ldexp(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
    return Ldexp.apply(input, other)


# =========================================================================== activations
def relu_array(a, out=None):
    """max(a, 0) into ``out`` (a new array by default). For floats the zero is an array in
    ``a``'s layout: NumPy's maximum against a scalar takes a scalar loop, against an array its
    vector loop (800K float32: 0.68 -> 0.31 ms), and that array is a read-only view of one
    shared buffer of zeros where ``a`` is dense (a channels-last 64x16x28x28 batch 287 -> 162 us:
    ``zeros_like`` wrote its zeros on every call)."""
    if a.dtype.kind != "f":
        return xp.maximum(a, 0, out=out)
    # zeros first: NumPy's vector maximum returns its second operand between equal values, so
    # -0.0 stays -0.0 as in torch (NaN propagates either way)
    return xp.maximum(_zeros_in_layout(a), a, out=out)


_ZEROS = {}            # dtype -> a read-only flat buffer of zeros, grown to the largest request
_ZEROS_MAX = 1 << 20   # elements: larger inputs get their own zeros (no hidden memory beyond 8 MB)


def _zeros_in_layout(a):
    """Zeros shaped and strided like ``a``: a view of the shared buffer when ``a``'s strides lay
    its elements out densely (C order or any permutation of it), else ``zeros_like``."""
    n = a.size
    if n > _ZEROS_MAX or n == 0:
        return xp.zeros_like(a)
    step = a.itemsize
    for size, stride in sorted(zip(a.shape, a.strides, strict=True), key=lambda p: p[1]):
        if size != 1:
            if stride != step:
                return xp.zeros_like(a)
            step *= size
    buf = _ZEROS.get(a.dtype)
    if buf is None or buf.size < n:
        buf = xp.zeros(max(n, 4096), dtype=a.dtype)
        buf.flags.writeable = False
        _ZEROS[a.dtype] = buf
    return xp.ndarray(a.shape, a.dtype, buffer=buf, strides=a.strides)


class Relu(Node):
    def forward(ctx, a):
        if a.dtype == xp.bool_:
            raise RuntimeError("Boolean inputs not supported for relu")
        out = relu_array(a)
        ctx.saved = (out,)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved
        # torch passes the gradient wherever the output is not <= 0, so through a NaN too
        if isinstance(g, Tensor) or out.ndim == 0:
            return g * ~(out <= 0)
        keep = xp.less_equal(out, 0)
        xp.logical_not(keep, out=keep)     # (in place: 64x16x28x28 489 -> 342 us)
        return g * keep


class LeakyRelu(Node):
    def forward(ctx, a, negative_slope=0.01):
        ctx.saved = (a,)
        ctx.slope = negative_slope
        return xp.where(a > 0, a, a * negative_slope)

    def backward(ctx, g):
        (a,) = ctx.saved
        return where_(a > 0, g, g * ctx.slope)


class Gelu(Node):
    def forward(ctx, a, approximate="none"):
        ctx.saved = (a,)
        ctx.approximate = approximate
        if approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            return 0.5 * a * (1 + xp.tanh(k * (a + 0.044715 * a * a * a)))
        return 0.5 * a * (1 + B.erf(a * (1 / math.sqrt(2))))

    def backward(ctx, g):
        (a,) = ctx.saved
        if ctx.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            inner = k * (a + 0.044715 * a * a * a)
            th = Tanh.apply(inner)
            d_inner = k * (1 + 3 * 0.044715 * a * a)
            return g * (0.5 * (1 + th) + 0.5 * a * (1 - th * th) * d_inner)
        cdf = 0.5 * (1 + Erf.apply(a * (1 / math.sqrt(2))))
        pdf = Exp.apply(a * a * -0.5) * (1 / math.sqrt(2 * math.pi))
        return g * (cdf + a * pdf)


class Silu(Node):
    def forward(ctx, a):
        ctx.saved = (a,)
        return a * B.sigmoid(a)

    def backward(ctx, g):
        (a,) = ctx.saved
        s = Sigmoid.apply(a)
        return g * (s * (1 + a * (1 - s)))


class Softplus(Node):
    def forward(ctx, a, beta=1.0, threshold=20.0):
        ctx.saved = (a,)
        ctx.beta, ctx.threshold = beta, threshold
        z = a * beta
        return xp.where(z > threshold, a, xp.logaddexp(0, z) / beta).astype(a.dtype, copy=False)

    def backward(ctx, g):
        (a,) = ctx.saved
        z = a * ctx.beta
        return where_(z > ctx.threshold, g, g * Sigmoid.apply(z))


class Clamp(Node):
    """``clamp(min, max)`` with scalar or tensor bounds; gradient passes where not clipped."""

    promote = True

    def forward(ctx, a, lo=None, hi=None):
        ctx.saved = (a, lo, hi)
        out = a
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        if out is a:
            out = a.copy()
        return out

    def backward(ctx, g):
        a, lo, hi = ctx.saved
        n = ctx.needs_input_grad
        keep = True
        glo = ghi = None
        if lo is not None:
            keep = a >= lo
        if hi is not None:
            keep = _logical_and(keep, a <= hi) if lo is not None else a <= hi
        ga = where_(keep, g, 0.0) if n[0] else None
        if len(n) > 1 and n[1]:
            glo = where_(a < lo, g, 0.0) if hi is None else where_(_logical_and(a < lo, lo <= hi), g, 0.0)
        if len(n) > 2 and n[2]:
            ghi = where_(a > hi, g, 0.0) if lo is None else where_(_logical_or(a > hi, lo > hi), g, 0.0)
        return (ga, glo, ghi)[:len(n)]


class Maximum(Node):
    promote = True

    def forward(ctx, a, b):
        ctx.saved = (a, b)
        return xp.maximum(a, b)

    def backward(ctx, g):
        # Ties split the gradient in half, as PyTorch does.
        a, b = ctx.saved
        half = g * 0.5
        return where_(a > b, g, where_(a == b, half, 0.0)), where_(b > a, g, where_(a == b, half, 0.0))


@op("binary", nodes=(Maximum,))
def maximum(input, other):
    """The larger of ``input`` and ``other`` at each position (NaN wins), broadcast."""
    return Maximum.apply(input, other)


@op("binary", nodes=(Maximum,))
def fmax(input, other):
    """The larger of ``input`` and ``other`` at each position, ignoring a NaN if the other is a number."""
    return maximum(input, other)


class Minimum(Node):
    promote = True

    def forward(ctx, a, b):
        ctx.saved = (a, b)
        return xp.minimum(a, b)

    def backward(ctx, g):
        a, b = ctx.saved
        half = g * 0.5
        return where_(a < b, g, where_(a == b, half, 0.0)), where_(b < a, g, where_(a == b, half, 0.0))


@op("binary", nodes=(Minimum,))
def minimum(input, other):
    """The smaller of ``input`` and ``other`` at each position (NaN wins), broadcast."""
    return Minimum.apply(input, other)


@op("binary", nodes=(Minimum,))
def fmin(input, other):
    """The smaller of ``input`` and ``other`` at each position, ignoring a NaN if the other is a number."""
    return minimum(input, other)


class Where(Node):
    def forward(ctx, cond, a, b):
        ctx.saved = (cond,)
        return xp.where(cond, a, b)

    def backward(ctx, g):
        (cond,) = ctx.saved
        n = ctx.needs_input_grad
        return (None,
                where_(cond, g, 0.0) if n[1] else None,
                where_(cond, 0.0, g) if n[2] else None)


def _where_method(self, condition, other):
    """``Tensor.where(condition, other)``: ``self`` where ``condition``, else ``other``."""
    return where(condition, self, other)


@op("elementwise", nodes=(Where,), method_fn=_where_method)
def where(condition, input=None, other=None):
    """``input`` where ``condition`` else ``other`` (scalars allowed); one-argument form = nonzero."""
    if input is None and other is None:
        from .indexing import nonzero
        return nonzero(condition, as_tuple=True)
    cond = condition if isinstance(condition, Tensor) else _as_t(condition)
    if cond._data.dtype != xp.bool_:
        if cond._data.dtype == xp.uint8:
            cond = Tensor._wrap(cond._data.astype(bool))
        else:
            raise RuntimeError(
                "where expected condition to be a boolean tensor, but got a tensor with dtype "
                f"{_scalar_name(cond.dtype)}")
    a, b = _other(input), _other(other)
    res = dtypes.result_type(*[x for x in (a, b)])
    a = a.to(res) if isinstance(a, Tensor) else Tensor._wrap(xp.asarray(a, dtype=res.np))
    b = b.to(res) if isinstance(b, Tensor) else Tensor._wrap(xp.asarray(b, dtype=res.np))
    return Where.apply(cond, a, b)


class ToDtype(Node):
    _bw_name = "ToCopyBackward0"

    def forward(ctx, a, dtype):
        ctx.in_dtype = a.dtype
        return a.astype(dtype)

    def backward(ctx, g):
        return ToDtype.apply(g, dtype=ctx.in_dtype)


class Copy(Node):
    """``dst.copy_(src)`` as a function of (dst, src): src broadcast and cast to dst."""

    _bw_name = "CopyBackwards"

    def name(self):
        return "torch::autograd::CopyBackwards"  # PyTorch's name(); repr says CopyBackwards

    def forward(ctx, dst, src):
        return xp.broadcast_to(src, dst.shape).astype(dst.dtype)

    def backward(ctx, g):
        return g * 0, g


@op("other", nodes=(Copy,), function=False, method=False, inplace=True)
def copy(self, src, non_blocking=False):
    """``src`` broadcast and cast to ``self``'s shape and dtype; only ``Tensor.copy_`` exists."""
    if not isinstance(src, Tensor):
        src = _as_t(src)
    return Copy.apply(self, src)


class Fill(Node):
    _bw_name = "FillBackward2"  # fill_(Scalar); FillTensor: fill_(Tensor)

    def forward(ctx, dst, value):
        return xp.full(dst.shape, value, dtype=dst.dtype)

    def backward(ctx, g):
        from .reduction import SumAll
        n = ctx.needs_input_grad
        gv = SumAll.apply(g, dims=tuple(range(len(g.shape))), keepdim=False) if len(n) > 1 and n[1] else None
        return g * 0, gv


class FillTensor(Fill):
    _bw_name = "FillBackward3"


@op("other", nodes=(Fill, FillTensor), function=False, method=False, inplace=True)
def fill(self, value):
    """``self``'s shape filled with ``value`` (a number or 0-d tensor); only ``Tensor.fill_``."""
    return (FillTensor if isinstance(value, Tensor) else Fill).apply(self, value)


class Zero(Fill):
    _bw_name = "ZeroBackward0"


@op("other", nodes=(Zero,), function=False, method=False, inplace=True)
def zero(self):
    """Zeros of ``self``'s shape; only ``Tensor.zero_`` exists."""
    return Zero.apply(self, 0)


class ZeroGrad(Node):
    """Piecewise-constant functions (floor, ceil, round, trunc): derivative zero."""

    def forward(ctx, a, fn):
        return fn(a)

    def backward(ctx, g):
        return g * 0


class Floor(ZeroGrad):
    pass


class Ceil(ZeroGrad):
    pass


class Round(ZeroGrad):
    pass


class Trunc(ZeroGrad):
    pass


class Frac(Node):
    def forward(ctx, a):
        return a - xp.trunc(a)

    def backward(ctx, g):
        return g


# =========================================================================== dual-mode helpers
def where_(cond, a, b):
    """``where`` usable inside backward formulas on arrays or tensors."""
    if not any(isinstance(x, Tensor) for x in (cond, a, b)):
        return xp.where(cond, a, b).astype(_pick_dtype(a, b), copy=False)
    return where(cond, a, b)


def _pick_dtype(a, b):
    for x in (a, b):
        if B.is_array(x):
            return x.dtype
    return xp.float64


def _logical_and(a, b):
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return _as_t(a).logical_and(_as_t(b))
    return xp.logical_and(a, b)


def _logical_or(a, b):
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return _as_t(a).logical_or(_as_t(b))
    return xp.logical_or(a, b)


def _as_t(x):
    if isinstance(x, Tensor):
        return x
    return Tensor._wrap(xp.asarray(x))


# =========================================================================== public API
def _scalar_name(d):
    """PyTorch's ScalarType name of a dtype (Float, Double, Long...) for error messages."""
    from .reduction import _cap
    return _cap(d)


def _other(x):
    """Accept tensors and Python numbers as the second operand; arrays become tensors."""
    if isinstance(x, (Tensor, int, float)):
        return x
    if B.is_array(x):
        return Tensor._wrap(x)
    if hasattr(x, "item") and hasattr(x, "dtype"):  # NumPy scalar
        return x.item()
    return NotImplemented


@op("binary", nodes=(Div,), inplace=_fast_inplace(xp.true_divide), aliases=("divide", "true_divide"))
def div(input, other, *, rounding_mode=None, out=None):
    """True division (integers become float32), or ``rounding_mode='trunc'|'floor'``."""
    check_tensor(input, "div")
    other = _other(other)
    if other is NotImplemented:
        raise TypeError("div(): argument 'other' must be Tensor or Number")
    if rounding_mode is None:
        return Div.apply(input, other)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")
    return _rounded_div(input, other, rounding_mode)


class RoundedDiv(Node):
    """``div(a, b, rounding_mode='floor'|'trunc')`` on floats: piecewise constant, zero gradient."""

    _bw_name = "DivBackward2"
    promote = True

    def forward(ctx, a, b, mode):
        return xp.floor_divide(a, b) if mode == "floor" else xp.trunc(a / b)

    def backward(ctx, g):
        return g * 0, g * 0


class NotImplementedGrad(Node):
    """An op PyTorch records without a derivative (``x // y`` on floats, ``2 % x``):
    the forward runs, ``backward`` raises PyTorch's error."""

    _bw_name = "NotImplemented"
    promote = True

    def name(self):
        return "torch::autograd::NotImplemented"

    def forward(ctx, a, b, fn, op):
        ctx.op = op
        return fn(a, b)

    def backward(ctx, g):
        raise RuntimeError(f"derivative for aten::{ctx.op} is not implemented")


@op("binary", nodes=(NotImplementedGrad, RoundedDiv), inplace=True)
def floor_divide(input, other):
    """``input // other``; on floats PyTorch records it without a derivative (NotImplemented)."""
    other = _other(other)
    if dtypes.result_type(input, other).is_floating_point:
        return NotImplementedGrad.apply(input, other, fn=xp.floor_divide, op="floor_divide")
    return div(input, other, rounding_mode="floor")


class Remainder(Node):
    """``remainder(a, b)`` (sign of the divisor): d/da = 1, d/db = -floor(a / b)."""

    _bw_name = "RemainderBackward1"
    promote = True
    _mode = "floor"

    def forward(ctx, a, b):
        ctx.saved = (a, b)
        return xp.remainder(a, b)

    def backward(ctx, g):
        a, b = ctx.saved
        n = ctx.needs_input_grad
        gb = -g * RoundedDiv.apply(a, b, mode=ctx._mode) if len(n) > 1 and n[1] else None
        return g, gb


class RemainderScalar(Node):
    _bw_name = "RemainderBackward0"
    promote = True
    n_edges = 1

    def forward(ctx, a, b):
        return xp.remainder(a, b)

    def backward(ctx, g):
        return g


@op("binary", nodes=(Remainder, RemainderScalar), inplace=True)
def remainder(input, other):
    """Python-style modulus (sign of the divisor); gradient 1 w.r.t. input, -floor(input/other)
    w.r.t. other."""
    if not isinstance(input, Tensor):  # remainder(Scalar, Tensor): no derivative in PyTorch
        _check_int_div(other, other)
        return NotImplementedGrad.apply(other, input, fn=lambda a, b: xp.remainder(b, a), op="remainder")
    other = _other(other)
    _check_int_div(input, other)
    return (Remainder if isinstance(other, Tensor) else RemainderScalar).apply(input, other)


class Fmod(Remainder):
    """``fmod(a, b)`` (sign of the dividend): d/da = 1, d/db = -trunc(a / b)."""

    _bw_name = "FmodBackward1"
    _mode = "trunc"

    def forward(ctx, a, b):
        ctx.saved = (a, b)
        return xp.fmod(a, b)


class FmodScalar(RemainderScalar):
    _bw_name = "FmodBackward0"

    def forward(ctx, a, b):
        return xp.fmod(a, b)


@op("binary", nodes=(Fmod, FmodScalar), inplace=True)
def fmod(input, other):
    """C's ``fmod``: the remainder of ``input / other`` with the sign of ``input``; broadcast."""
    other = _other(other)
    _check_int_div(input, other)
    return (Fmod if isinstance(other, Tensor) else FmodScalar).apply(input, other)


def _check_int_div(a, b):
    """Integer division by zero raises in PyTorch (NumPy would warn and return 0)."""
    if not dtypes.result_type(a, b).is_floating_point:
        d = b._data if isinstance(b, Tensor) else b
        if (xp.asarray(d) == 0).any():
            raise RuntimeError("ZeroDivisionError")


def _rounded_div(a, b, mode):
    from .. import dtypes as D
    res = D.result_type(a, b)
    if res.is_floating_point:
        return RoundedDiv.apply(a, b, mode=mode)
    _check_int_div(a, b)
    x, y = a._data, b._data if isinstance(b, Tensor) else b
    if mode == "floor":
        r = xp.floor_divide(x, y)
    else:
        r = xp.trunc(xp.true_divide(x, y)).astype(res.np)
    return Tensor._wrap(xp.asarray(r).astype(res.np, copy=False))


def _nograd(fn, a, b):
    from .. import dtypes as D
    res = D.result_type(a, b)
    bb = b._data if isinstance(b, Tensor) else b
    return Tensor._wrap(xp.asarray(fn(a._data, bb)).astype(res.np, copy=False))


def _unary(cls, name, **decl):
    """Declare the op ``name``: ``cls.apply(input)`` after checking ``input`` is a tensor."""
    def f(input):
        check_tensor(input, name)
        return cls.apply(input)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise ``{name}``; differentiable (see ``{cls.__name__}.backward``)."
    return op("unary", nodes=(cls,), **decl)(f)


abs = _unary(Abs, "abs", inplace=True, aliases=("absolute",))

sign = _unary(Sign, "sign", inplace=True, aliases=("sgn",))

exp = _unary(Exp, "exp", inplace=True)

exp2 = _unary(Exp2, "exp2", inplace=True)

expm1 = _unary(Expm1, "expm1", inplace=True)

log = _unary(Log, "log", inplace=True)

log2 = _unary(Log2, "log2", inplace=True)

log10 = _unary(Log10, "log10", inplace=True)

log1p = _unary(Log1p, "log1p", inplace=True)

sqrt = _unary(Sqrt, "sqrt", inplace=True)

rsqrt = _unary(Rsqrt, "rsqrt", inplace=True)

reciprocal = _unary(Reciprocal, "reciprocal", inplace=True)

sin = _unary(Sin, "sin", inplace=True)

cos = _unary(Cos, "cos", inplace=True)

tan = _unary(Tan, "tan", inplace=True)

asin = _unary(Asin, "asin", inplace=True, aliases=("arcsin",))

acos = _unary(Acos, "acos", inplace=True, aliases=("arccos",))

atan = _unary(Atan, "atan", inplace=True, aliases=("arctan",))

sinh = _unary(Sinh, "sinh", inplace=True)

cosh = _unary(Cosh, "cosh", inplace=True)

tanh = _unary(Tanh, "tanh", inplace=True)

asinh = _unary(Asinh, "asinh", inplace=True, aliases=("arcsinh",))

deg2rad = _unary(Deg2Rad, "deg2rad", inplace=True)

rad2deg = _unary(Rad2Deg, "rad2deg", inplace=True)

acosh = _unary(Acosh, "acosh", inplace=True, aliases=("arccosh",))

atanh = _unary(Atanh, "atanh", inplace=True, aliases=("arctanh",))

sigmoid = _unary(Sigmoid, "sigmoid", inplace=True)

erf = _unary(Erf, "erf", inplace=True)

def _fast_relu_inplace(fn, name):
    from .inplace import _fast_relu
    return _fast_relu(fn, name)


relu = _unary(Relu, "relu", inplace=_fast_relu_inplace)

silu = _unary(Silu, "silu")

frac = _unary(Frac, "frac", inplace=True)


def _rounding(cls, fn, name, **decl):
    def f(input, **kw):
        check_tensor(input, name)
        if input._data.dtype.kind in "iub":
            return clone_(input)
        if kw.get("decimals"):
            s = 10.0 ** kw["decimals"]
            return cls.apply(input * s, fn=fn) / s
        return cls.apply(input, fn=fn)
    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}``; integers are returned unchanged; the gradient is zero."
    return op("unary", nodes=(cls,), **decl)(f)


def clone_(t):
    from .shape import clone
    return clone(t)


floor = _rounding(Floor, xp.floor, "floor", inplace=True)

ceil = _rounding(Ceil, xp.ceil, "ceil", inplace=True)

round = _rounding(Round, xp.round, "round", inplace=True)

trunc = _rounding(Trunc, xp.trunc, "trunc", inplace=True, aliases=("fix",))


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return LeakyRelu.apply(input, negative_slope=negative_slope)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return Gelu.apply(input, approximate=approximate)


def softplus(input, beta=1.0, threshold=20.0):
    return Softplus.apply(input, beta=beta, threshold=threshold)


@op("elementwise", nodes=(Clamp,), inplace=True, aliases=("clip",))
def clamp(input, min=None, max=None, *, _cls=None):
    """Clip to ``[min, max]`` (scalars or tensors); gradient flows where not clipped."""
    check_tensor(input, "clamp")
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    lo = _other(min) if min is not None else None
    hi = _other(max) if max is not None else None
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        lo_t = lo if lo is None or isinstance(lo, Tensor) else _full_like_scalar(input, lo)
        hi_t = hi if hi is None or isinstance(hi, Tensor) else _full_like_scalar(input, hi)
        cls = _cls[1] if _cls else Clamp
        if lo_t is None:
            return cls.apply(input, None, hi_t)
        if hi_t is None:
            return cls.apply(input, lo_t)
        return cls.apply(input, lo_t, hi_t)
    # NOTE: scalar bounds are options, not inputs; like PyTorch they still take part in type
    # promotion (an integer tensor clamped to float bounds becomes floating point).
    res = dtypes.result_type(input, *[v for v in (lo, hi) if v is not None])
    if res.np != input._data.dtype:
        input = input.to(res)
    return (_cls[0] if _cls else _ClampScalar).apply(input, lo=lo, hi=hi)


class _ClampScalar(Node):
    _bw_name = "ClampBackward1"

    def forward(ctx, a, lo=None, hi=None):
        ctx.saved = (a,)
        ctx.lo, ctx.hi = lo, hi
        out = xp.clip(a, lo, hi)
        if out.dtype != a.dtype:
            out = out.astype(a.dtype)
        return out

    def backward(ctx, g):
        (a,) = ctx.saved
        lo, hi = ctx.lo, ctx.hi
        if lo is not None and hi is not None:
            keep = _logical_and(a >= lo, a <= hi)
        elif lo is not None:
            keep = a >= lo
        else:
            keep = a <= hi
        return where_(keep, g, 0.0)


def _full_like_scalar(ref, v):
    return Tensor._wrap(xp.asarray(v, dtype=ref._data.dtype))


class _ClampMinScalar(_ClampScalar):
    _bw_name = "ClampMinBackward0"


class _ClampMaxScalar(_ClampScalar):
    _bw_name = "ClampMaxBackward0"


class _ClampMin(Clamp):
    _bw_name = "ClampMinBackward1"


@op("elementwise", nodes=(_ClampMinScalar, _ClampMin), inplace=True)
def clamp_min(input, min):
    """``max(input, min)`` elementwise; ``min`` is a number or a tensor broadcast to ``input``."""
    return clamp(input, min=min, _cls=(_ClampMinScalar, _ClampMin))


class _ClampMax(Clamp):
    _bw_name = "ClampMaxBackward1"


@op("elementwise", nodes=(_ClampMaxScalar, _ClampMax), inplace=True)
def clamp_max(input, max):
    """``min(input, max)`` elementwise; ``max`` is a number or a tensor broadcast to ``input``."""
    return clamp(input, max=max, _cls=(_ClampMaxScalar, _ClampMax))


def to_dtype(input, dtype):
    d = dtypes.as_dtype(dtype)
    if input._requires_grad and not d.is_floating_point:
        # Leaving floating point cuts the graph, as in PyTorch.
        from ..autograd.explain import note_cut
        return note_cut(Tensor._wrap(input._data.astype(d.np)), input, "integer", f".to({d})")
    return ToDtype.apply(input, dtype=d.np)


@op("elementwise", inplace=True)
def lerp(input, end, weight):
    """``input + weight * (end - input)``: linear interpolation, broadcast over all three."""
    return input + (end - input) * weight


@op("elementwise", inplace=True)
def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 * tensor2``, broadcast over all three."""
    return input + tensor1 * tensor2 * value


@op("elementwise", inplace=True)
def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 / tensor2``, broadcast over all three."""
    return input + tensor1 / tensor2 * value


# --------------------------------------------------------------------------- non-differentiable


def _compare(fn, name, **decl):
    def f(input, other):
        o = _other(other)
        if o is NotImplemented:
            return NotImplemented
        if isinstance(o, Tensor):
            res = dtypes.result_type(input, o)
            a, b = input._data, o._data
            if a.dtype != res.np:
                a = a.astype(res.np)
            if b.dtype != res.np:
                b = b.astype(res.np)
        else:
            a, b = input._data, o
        out = Tensor._wrap(_numpy_call(fn, name, a, b))
        if input._requires_grad or isinstance(o, Tensor) and o._requires_grad:
            from ..autograd.explain import note_cut  # a comparison has no gradient
            note_cut(out, input if input._requires_grad else o, "integer", f"a comparison ({name})")
        return out
    f.__name__ = name
    f.__doc__ = f"Bool tensor: ``input {name} other`` elementwise, broadcast (``other`` may be a number)."
    return op("comparison", **decl)(f)


eq = _compare(xp.equal, "eq")

ne = _compare(xp.not_equal, "ne", aliases=("not_equal",))

lt = _compare(xp.less, "lt", aliases=("less",))

le = _compare(xp.less_equal, "le", aliases=("less_equal",))

gt = _compare(xp.greater, "gt", aliases=("greater",))

ge = _compare(xp.greater_equal, "ge", aliases=("greater_equal",))


def _logical(fn, name, **decl):
    def f(input, other=None):
        if other is None:
            return Tensor._wrap(fn(input._data))
        o = _other(other)
        if o is NotImplemented:
            raise TypeError(
                f"{name}(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
        return Tensor._wrap(_numpy_call(fn, name, input._data, o._data if isinstance(o, Tensor) else o))
    f.__name__ = name
    f.__doc__ = f"Bool tensor: ``{name}`` of the truth values of ``input`` and ``other``, broadcast."
    return op("comparison", **decl)(f)


def _numpy_call(fn, name, a, b):
    """``fn(a, b)`` for ops that call NumPy directly (no node): PyTorch's errors, not NumPy's."""
    try:
        return fn(a, b)
    except ValueError:
        err = B.broadcast_error([xp.shape(a), xp.shape(b)])
        if err is None:
            raise RuntimeError(f"{name}: the operands do not fit together") from None
        raise err from None
    except TypeError:
        raise RuntimeError(f"{name}: unsupported operand types {_describe(a)} and {_describe(b)}") from None


def _describe(a):
    return f"tensor of {a.dtype}" if B.is_array(a) else type(a).__name__


logical_and = _logical(xp.logical_and, "logical_and", inplace=True)

logical_or = _logical(xp.logical_or, "logical_or", inplace=True)

logical_xor = _logical(xp.logical_xor, "logical_xor")

logical_not = _logical(xp.logical_not, "logical_not", inplace=True)


def _bitwise(fn, name, **decl):
    def f(input, other=None):
        if input._data.dtype.kind == "f":
            raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{_scalar_name(input.dtype)}'")
        if other is None:
            return Tensor._wrap(fn(input._data))
        o = _other(other)
        if isinstance(o, Tensor):
            res = dtypes.result_type(input, o)
            return Tensor._wrap(fn(input._data.astype(res.np, copy=False),
                                   o._data.astype(res.np, copy=False)))
        return Tensor._wrap(fn(input._data, o))
    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}`` of integer or bool tensors, broadcast."
    return op("comparison", **decl)(f)


bitwise_and = _bitwise(xp.bitwise_and, "bitwise_and")

bitwise_or = _bitwise(xp.bitwise_or, "bitwise_or")

bitwise_xor = _bitwise(xp.bitwise_xor, "bitwise_xor")

bitwise_not = _bitwise(xp.invert, "bitwise_not")


def _lcm_array(a, b):
    """``|a / gcd(a, b) * b|`` (0 where both are 0): torch's order of operations, so a result
    past the dtype's range wraps as torch's does (NumPy's own ``lcm`` takes the absolute
    values first, giving the opposite sign there)."""
    g = xp.gcd(a, b)
    nz = g != 0
    with xp.errstate(over="ignore"):
        return xp.abs(xp.where(nz, a // xp.where(nz, g, 1), 0) * b)


def _gcd_like(fn, name, **decl):
    def f(input, other):
        check_tensor(input, name)
        if not isinstance(other, Tensor):
            raise TypeError(f"{name}(): argument 'other' (position 2) must be Tensor, not "
                            f"{type(other).__name__}")
        res = dtypes.result_type(input, other)
        if res.np.kind not in "iu":
            raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{_scalar_name(res)}'")
        a, b = input._data.astype(res.np, copy=False), other._data.astype(res.np, copy=False)
        return Tensor._wrap(fn(a, b))
    f.__name__ = name
    f.__doc__ = (f"Elementwise ``{name}`` of integer tensors, broadcast (no gradient: integers "
                 "only).")
    return op("comparison", inplace=True, **decl)(f)


gcd = _gcd_like(xp.gcd, "gcd")

lcm = _gcd_like(_lcm_array, "lcm")


@op("comparison")
def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Bool tensor: whether each of ``elements`` occurs in ``test_elements`` (either may be a
    Python number); ``invert`` negates it."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        got = ", ".join(type(v).__name__ for v in (elements, test_elements))
        raise TypeError(f"isin() received an invalid combination of arguments - got ({got}), but "
                        "expected one of:\n * (Tensor elements, Tensor test_elements, *, bool "
                        "assume_unique = False, bool invert = False, Tensor out = None)")
    e = elements._data if isinstance(elements, Tensor) else xp.asarray(elements)
    t = test_elements._data if isinstance(test_elements, Tensor) else xp.asarray(test_elements)
    return Tensor._wrap(xp.asarray(xp.isin(e, t, assume_unique=assume_unique, invert=invert)))


@op("comparison")
def bincount(input, weights=None, minlength=0):
    """How often each value 0..max occurs in a 1-D non-negative integer tensor (at least
    ``minlength`` bins); with ``weights``, their sums instead (float32 weights stay float32,
    others give float64). No gradient, as in torch."""
    check_tensor(input, "bincount")
    a = input._data
    if a.dtype.kind not in "iu":
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{_scalar_name(input.dtype)}'")
    if a.ndim != 1 or (a.size and a.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if weights is None:
        return Tensor._wrap(xp.bincount(a, minlength=minlength).astype(xp.int64))
    w = weights._data
    if w.ndim != 1 or w.shape[0] != a.shape[0]:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    out = xp.bincount(a, weights=w.astype(xp.float64), minlength=minlength)
    return Tensor._wrap(out.astype(w.dtype if w.dtype.kind == "f" else xp.float64))


@op("unary")
def positive(input):
    """``input`` itself (``+input``); a bool tensor is refused, as ``+`` refuses it."""
    check_tensor(input, "positive")
    if input._data.dtype == xp.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def _predicate(fn, name, **decl):
    def f(input):
        return Tensor._wrap(fn(input._data))
    f.__name__ = name
    f.__doc__ = f"Bool tensor: ``{name}`` of each element."
    return op("comparison", **decl)(f)


isnan = _predicate(xp.isnan, "isnan")

isinf = _predicate(xp.isinf, "isinf")

isfinite = _predicate(xp.isfinite, "isfinite")

isposinf = _predicate(xp.isposinf, "isposinf")

isneginf = _predicate(xp.isneginf, "isneginf")

signbit = _predicate(xp.signbit, "signbit")


@op("other")  # a Python bool, not an elementwise result
def equal(input, other):
    """True when both tensors have the same shape and elements."""
    return input.shape == other.shape and bool((input._data == other._data).all())


@op("other")  # a Python bool, not an elementwise result
def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when :func:`isclose` holds everywhere (a Python bool)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


@op("comparison")
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Bool tensor: ``|input - other| <= atol + rtol * |other|`` elementwise (NaNs equal with
    ``equal_nan``).
    """
    check_tensor(input, "isclose")
    check_tensor(other, "isclose", "other", 2)
    return Tensor._wrap(_numpy_call(
        lambda a, b: xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan), "isclose",
        input._data, other._data))


@op("unary", inplace=True)
def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """``input`` with NaN replaced by ``nan`` (default 0) and infinities by ``posinf``/``neginf``
    (default: the dtype's extremes).
    """
    check_tensor(input, "nan_to_num")
    for key, v in (("nan", nan), ("posinf", posinf), ("neginf", neginf)):
        if v is not None and not isinstance(v, (int, float)):
            raise TypeError(f"nan_to_num(): argument '{key}' must be float, not {type(v).__name__}")
    nan = 0.0 if nan is None else nan
    d = input._data
    info = xp.finfo(d.dtype) if d.dtype.kind == "f" else None
    res = xp.nan_to_num(d, nan=nan, posinf=posinf if posinf is not None else (info.max if info else None),
                        neginf=neginf if neginf is not None else (info.min if info else None))
    if input.requires_grad or grad_mode.state.observers:   # (forward AD's tangents too)
        mask = Tensor._wrap(xp.isfinite(d))
        return where(mask, input, Tensor._wrap(res))
    return Tensor._wrap(res)

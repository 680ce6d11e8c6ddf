"""The op registry: every public op is declared once, on its public function.

An op file is a sequence of units, each a ``Node`` subclass (forward and backward side by
side) followed by the public function decorated with :func:`op`, which declares the rest::

    class Exp(Node):
        ...

    @op("unary", nodes=(Exp,), inplace=True)
    def exp(input):
        ...

Every op file reads this way; ``nodes`` names the classes a unit records. Ops built only
from other ops (``flatten``, ``nansum``) have no node of their own and follow the units.

From these declarations :func:`build` makes everything the user calls, so no op name is
written anywhere else: the module-level exports of ``tapegrad`` (:func:`exports`), the
``Tensor`` methods, the in-place variants ``name_`` (through ``ops.inplace.make_inplace``)
and the aliases (:func:`install_methods`). Each function is passed through
``ops._dispatch.public`` exactly once; the module function, the method and every alias
are that one object, so ``Tensor.exp is tapegrad.exp``.

The functions stay undecorated attributes of their ops module (``elementwise.add``...):
the ops call one another directly, below the dispatch point.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from collections.abc import Callable

from . import _dispatch

#: The kinds of op. A transform (batching, forward mode) can pick its default rule from
#: the kind alone; the op's own behaviour does not depend on it.
KINDS = {
    "unary": "elementwise, one tensor in, same shape out (exp, abs, relu)",
    "binary": "elementwise over two broadcast operands, tensor or number (add, pow, atan2)",
    "elementwise": "elementwise over three or more broadcast operands (where, lerp, clamp)",
    "comparison": "elementwise with a bool or non-differentiable result (eq, isnan, bitwise_and)",
    "reduction": "reduces over dims, optionally keeping them (sum, max, var, norm)",
    "scan": "same shape out, each element depends on its slice along one dim (cumsum, softmax)",
    "view": "shares storage with its input (view, transpose, select)",
    "shape": "rearranges or combines elements without arithmetic (cat, flip, repeat)",
    "indexing": "reads or writes at index positions (gather, scatter, masked_fill)",
    "linalg": "contractions over dims (matmul, einsum)",
    "other": "anything else; say why in the op's docstring",
}


@dataclass(eq=False)
class OpSpec:
    """The declaration of one public op.

    ``fn`` is the implementation, ``nodes`` the ``Node`` classes it records (empty for an
    op without a derivative). ``function``: exported as ``tapegrad.<name>``; ``method``:
    a ``Tensor`` method (``method_fn`` when the method's signature differs from the
    function's, as ``Tensor.where(condition, other)``); ``inplace``: ``Tensor.<name>_``
    exists, built by ``ops.inplace.make_inplace`` or, when a callable, by
    ``inplace(public, name_)``. ``aliases`` are other names for the same callables.
    """

    name: str
    fn: Callable
    kind: str
    module: str
    nodes: tuple = ()
    function: bool = True
    method: bool = True
    method_fn: Callable | None = None
    inplace: bool | Callable = False
    aliases: tuple = ()
    doc: str | None = None
    public: Callable | None = field(default=None, repr=False)
    public_method: Callable | None = field(default=None, repr=False)

    @property
    def names(self):
        """The op's name followed by its aliases."""
        return (self.name, *self.aliases)


_SPECS: dict[str, OpSpec] = {}
_BUILT = False


def op(kind, *, nodes=(), name=None, function=True, method=True, method_fn=None, inplace=False,
       aliases=()):
    """Declare the decorated function as the public op ``name`` (default: its ``__name__``).

    Returns the function unchanged, so the ops module keeps calling it directly; each alias
    becomes an attribute of the op's module as well.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown op kind {kind!r}; one of {sorted(KINDS)}")

    def declare(fn):
        key = name or fn.__name__
        for n in (key, *aliases):
            if n in _SPECS or any(n in s.aliases for s in _SPECS.values()):
                raise ValueError(f"op {n!r} is declared twice")
        _SPECS[key] = OpSpec(key, fn, kind, fn.__module__, tuple(nodes), function, method,
                             method_fn, inplace, tuple(aliases), fn.__doc__)
        module = sys.modules[fn.__module__]
        for a in aliases:  # ``shape.concat`` stays importable like ``shape.cat``
            setattr(module, a, fn)
        return fn
    return declare


def specs():
    """Every declared op, in declaration order."""
    return tuple(_SPECS.values())


def get(name):
    """The spec declaring ``name`` (an op name or an alias)."""
    if name in _SPECS:
        return _SPECS[name]
    for s in _SPECS.values():
        if name in s.aliases:
            return s
    raise KeyError(name)


def build():
    """Pass each op through the dispatch point, once; later calls do nothing."""
    global _BUILT
    if _BUILT:
        return
    for s in _SPECS.values():
        s.public = _dispatch.public(s.fn, s.name, s.kind)
        s.public_method = s.public if s.method_fn is None else \
            _dispatch.public(s.method_fn, s.name, s.kind)
    _BUILT = True


def exports():
    """``{name: callable}`` for ``tapegrad``'s namespace: every function and its aliases."""
    build()
    return {n: s.public for s in _SPECS.values() if s.function for n in s.names}


def install_methods(tensor_cls):
    """Attach every op's method, its aliases and its in-place variants to ``tensor_cls``.

    An alias's in-place variant is the same object as the op's (``subtract_ is sub_``).
    Returns the names attached.
    """
    from . import inplace as P
    build()
    attached = []
    for s in _SPECS.values():
        if s.method:
            for n in s.names:
                setattr(tensor_cls, n, s.public_method)
                attached.append(n)
        if s.inplace:
            make = s.inplace if callable(s.inplace) else P.make_inplace
            method = make(s.public_method, s.name + "_")
            for n in s.names:
                setattr(tensor_cls, n + "_", method)
                attached.append(n + "_")
    return attached

"""The dispatch point: what ``tapegrad.<op>``, ``Tensor.<op>`` and ``nn.functional.<fn>`` call.

The op registry (``ops/_registry.py``) passes every public op function through
:func:`public` once, when it builds the exports and the Tensor methods, and
``nn/functional.py`` passes its layer functions the same way. The callable returned asks
one question before running the op: is any transform active, in any thread
(``observe.active``, a plain module attribute)? With none, it calls the op at once:
that check and one extra call are all the hot path pays. Otherwise it looks at its own
thread's transform stack (``grad_mode.state.transforms``, see ``autograd/observe.py``)
for an entry that intercepts public calls (a ``vmap`` level) and hands it the call.

Nothing is patched: a transform is an entry on a per-thread stack, so ``vmap`` in one
thread leaves the ops of every other thread alone, and ``Tensor.exp is tapegrad.exp``
always holds. Transforms that work per recorded op (dual levels, anomaly mode, the
profiler) are consulted from the same stack by ``Node.apply`` (``state.observers``) and
the in-place writes by ``ops/inplace.py``.

Operators (``__add__``, ``__rmul__``...) are returned unchanged: a ``vmap`` batched tensor
is a ``Tensor`` subclass with its own operators, and Python tries a subclass's reflected
operator first, so ``plain * batched`` already reaches the batched side.
"""
from __future__ import annotations

import functools

from ..autograd import grad_mode
from ..autograd import observe as _stack

_state = grad_mode.state


def public(fn, name: str, kind: str):
    """Return the callable to export for the op ``name`` of kind ``kind`` implemented by ``fn``.

    The result runs ``fn`` unless a transform of the calling thread intercepts the call;
    ``result.__wrapped__`` is ``fn``. ``name`` identifies the op to the transforms
    (``"exp"``; ``"nn.functional.relu"`` for a layer function), ``kind`` is the registry's
    kind of op (``"unary"``, ``"reduction"``...).
    """
    if name.startswith("__") and name.endswith("__"):
        return fn

    def dispatch(*args, **kwargs):
        if _stack.active:
            return _transformed(fn, name, kind, args, kwargs)
        return fn(*args, **kwargs)

    functools.update_wrapper(dispatch, fn)
    dispatch.op_name, dispatch.op_kind = name, kind
    return dispatch


def _transformed(fn, name, kind, args, kwargs):
    """The call as the innermost intercepting transform of this thread makes it."""
    for entry in reversed(_state.transforms):
        intercept = getattr(entry, "intercept", None)
        if intercept is not None:
            return intercept(fn, name, kind, args, kwargs)
    return fn(*args, **kwargs)


def functional(kind: str):
    """Decorator for ``tapegrad.nn.functional``: ``public(fn, "nn.functional.<name>", kind)``."""
    def decorate(fn):
        return public(fn, "nn.functional." + fn.__name__, kind)
    return decorate

"""tapegrad.autograd: the engine's public face.

``backward`` and ``grad`` run the dependency-counted engine (``engine.py``)
over the graph of ``Node`` objects that ops record (``graph.py``).

Layering: ``tensor.py`` sits below this package and imports ``grad_mode`` and ``_version``
from it, which runs this ``__init__``. So that importing the tensor layer does not pull in
the modules above it (``graph``, ``engine``, ``function``... all import ``tensor``), only
``grad_mode`` is imported here; every other name is loaded on first access (PEP 562).
"""
from __future__ import annotations

import importlib
import sys
import types

from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled,
                        no_grad, set_grad_enabled)

# public name -> the submodule that defines it, imported on first access
_LAZY = {
    "detect_anomaly": "anomaly", "set_detect_anomaly": "anomaly", "is_anomaly_enabled": "anomaly",
    "is_anomaly_check_nan_enabled": "anomaly",
    "Explanation": "explain", "explain": "explain", "is_tracking_origins": "explain",
    "track_origins": "explain",
    "GraphLeakWarning": "leak", "detect_graph_leaks": "leak", "is_graph_leak_check_enabled": "leak",
    "set_graph_leak_check": "leak",
    "Function": "function", "FunctionCtx": "function", "InplaceFunction": "function",
    "once_differentiable": "function",
    "GradcheckError": "gradcheck", "gradcheck": "gradcheck", "gradgradcheck": "gradcheck",
    "Node": "graph",
    "run_backward": "engine",
}
# submodules reachable as attributes before anything imported them
# (functional: vjp, jvp, jacobian, hessian, hvp, vhp; forward_ad: dual_level, make_dual, unpack_dual)
_SUBMODULES = ("anomaly", "backward_steps", "engine", "explain", "forward_ad", "function", "functional",
               "gradcheck", "graph", "leak", "observe")


class _Package(types.ModuleType):
    """This package, keeping ``explain`` and ``gradcheck`` bound to the functions, not the submodules.

    Importing a submodule sets the package attribute of its name to it; an eager
    ``from .explain import explain`` used to overwrite that, and this does the same whenever
    the submodule gets imported.
    """

    def __setattr__(self, name, value):
        if (name in _LAZY and isinstance(value, types.ModuleType)
                and value.__name__ == f"{__name__}.{name}"):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


def _tensors(x):
    from ..tensor import Tensor
    if isinstance(x, Tensor):
        return [x]
    if x is None:
        return []
    return list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None,
             inputs=None):
    """Accumulate gradients of ``tensors`` into the ``.grad`` of leaves (or of ``inputs``)."""
    ts = _tensors(tensors)
    if grad_tensors is None:
        grad_tensors = grad_variables
    gs = _tensors(grad_tensors) if grad_tensors is not None else [None] * len(ts)
    if len(gs) < len(ts):
        raise RuntimeError(f"got {len(ts)} tensors and {len(gs)} gradients")
    gs = gs[:len(ts)]  # PyTorch zips: extra gradients are ignored
    ins = None
    if inputs is not None:
        ins = _tensors(inputs)
        if not ins:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    from .engine import run_backward
    run_backward(ts, gs, retain_graph, create_graph, inputs=ins)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Gradients of ``outputs`` w.r.t. ``inputs`` (a tuple), without touching any ``.grad``.

    >>> x = tapegrad.tensor(3., requires_grad=True)
    >>> tapegrad.autograd.grad(x ** 2, x)
    (tensor(6.),)
    """
    from ..tensor import Tensor
    outs = _tensors(outputs)
    ins = _tensors(inputs)
    if not ins:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    gos = _tensors(grad_outputs) if grad_outputs is not None else [None] * len(outs)
    if len(gos) < len(outs):
        raise RuntimeError(f"got {len(outs)} tensors and {len(gos)} gradients")
    gos = gos[:len(outs)]  # PyTorch zips: extra grad_outputs are ignored
    if allow_unused is None:
        allow_unused = materialize_grads
    from .engine import run_backward
    res = run_backward(outs, gos, retain_graph, create_graph, inputs=ins, capture=True,
                       allow_unused=allow_unused)
    if materialize_grads:
        from ..creation import zeros_like
        res = [zeros_like(i) if r is None else r for r, i in zip(res, ins, strict=True)]
    return tuple(res)


def Variable(data, requires_grad=False, volatile=False):
    """Legacy wrapper: returns ``data`` as a Tensor (Variable and Tensor merged in PyTorch 0.4)."""
    from ..tensor import Tensor
    from ..creation import tensor
    t = data if isinstance(data, Tensor) else tensor(data)
    if requires_grad:
        t.requires_grad_(True)
    return t


__all__ = ["backward", "grad", "Variable", "Function", "FunctionCtx", "gradcheck", "gradgradcheck",
           "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "detect_anomaly", "set_detect_anomaly", "Node", "explain", "track_origins",
           "detect_graph_leaks", "set_graph_leak_check", "GraphLeakWarning"]

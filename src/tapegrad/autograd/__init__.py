"""tapegrad.autograd: the engine's public face.

``backward`` and ``grad`` run the dependency-counted engine (``engine.py``)
over the graph of ``Node`` objects that ops record (``graph.py``).
"""
from __future__ import annotations

from .anomaly import (detect_anomaly, set_detect_anomaly, is_anomaly_enabled,
                      is_anomaly_check_nan_enabled)
from .explain import Explanation, explain, is_tracking_origins, track_origins
from .leak import (GraphLeakWarning, detect_graph_leaks, is_graph_leak_check_enabled,
                   set_graph_leak_check)
from .function import Function, FunctionCtx, InplaceFunction, once_differentiable
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled,
                        no_grad, set_grad_enabled)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .graph import Node
from .engine import run_backward


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
    res = run_backward(outs, gos, retain_graph, create_graph, inputs=ins, capture=True,
                       allow_unused=allow_unused)
    if materialize_grads:
        from ..creation import zeros_like
        res = [zeros_like(i) if r is None else r for r, i in zip(res, ins)]
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
from . import functional  # noqa: E402,F401  (vjp, jvp, jacobian, hessian, hvp, vhp)
from . import forward_ad  # noqa: E402,F401  (dual_level, make_dual, unpack_dual)

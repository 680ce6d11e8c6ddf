"""Gradient (activation) checkpointing, like ``torch.utils.checkpoint``.

``checkpoint(fn, *args)`` runs ``fn`` under ``no_grad`` in the forward pass, so none of
the segment's intermediate activations are kept: only the inputs (and the RNG state) are
saved. In backward the segment is recomputed with grad enabled -- with the RNG state
restored, so dropout draws the same masks -- and the incoming gradients are
backpropagated through the recomputed graph into the inputs and into any parameters the
segment uses (their ``.grad`` is accumulated exactly as without checkpointing).

Both ``use_reentrant`` variants run this reentrant-style implementation (an
``autograd.Function`` whose backward calls ``autograd.backward``). ``use_reentrant=False``
additionally accepts keyword arguments for ``fn`` and ``context_fn``, and records the
output even when no input requires grad (so parameters inside still get gradients).

>>> import tapegrad as torch
>>> from tapegrad.utils.checkpoint import checkpoint
>>> lin = torch.nn.Linear(4, 4)
>>> x = torch.randn(2, 4, requires_grad=True)
>>> checkpoint(lambda t: lin(t).relu(), x, use_reentrant=True).sum().backward()
>>> x.grad.shape, lin.weight.grad.shape
(torch.Size([2, 4]), torch.Size([4, 4]))
"""
from __future__ import annotations

import contextlib
import warnings

from .. import creation
from ..autograd import function as _function
from ..autograd import grad_mode
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential", "detach_variable", "check_backward_validity",
           "noop_context_fn"]

_DEFAULT_DETERMINISM_MODE = "default"


def noop_context_fn():
    return contextlib.nullcontext(), contextlib.nullcontext()


def detach_variable(inputs):
    """Detach each tensor of the tuple ``inputs``, keeping its ``requires_grad``."""
    if isinstance(inputs, tuple):
        out = []
        for inp in inputs:
            if not isinstance(inp, Tensor):
                out.append(inp)
                continue
            x = inp.detach()
            if inp.requires_grad:
                x.requires_grad_(True)
            out.append(x)
        return tuple(out)
    raise RuntimeError(
        f"Only tuple of tensors is supported. Got Unsupported input type: {type(inputs).__name__}")


def check_backward_validity(inputs):
    if not any(inp.requires_grad for inp in inputs if isinstance(inp, Tensor)):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                      stacklevel=2)


class CheckpointFunction(_function.Function):
    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        # The leading extra flag is how use_reentrant=False hides its dummy input.
        return _forward(ctx, run_function, preserve_rng_state, None, args)

    @staticmethod
    def backward(ctx, *grads):
        return (None, None) + _backward(ctx, grads)


class _NonReentrantCheckpointFunction(_function.Function):
    """Same, with a ``context_fn`` and a dummy input requiring grad (always recorded)."""

    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, context_fn, _dummy, *args):
        return _forward(ctx, run_function, preserve_rng_state, context_fn, args)

    @staticmethod
    def backward(ctx, *grads):
        return (None, None, None, None) + _backward(ctx, grads)


def _forward(ctx, run_function, preserve_rng_state, context_fn, args):
    if context_fn is None:
        check_backward_validity(args)
    ctx.run_function = run_function
    ctx.preserve_rng_state = preserve_rng_state
    ctx.context_fn = context_fn
    if preserve_rng_state:
        ctx.fwd_cpu_state = creation.get_rng_state()
    # Non-tensor inputs are kept on ctx; tensors are saved (placeholders None).
    ctx.inputs = []
    ctx.tensor_indices = []
    tensor_inputs = []
    for i, arg in enumerate(args):
        if isinstance(arg, Tensor):
            tensor_inputs.append(arg)
            ctx.tensor_indices.append(i)
            ctx.inputs.append(None)
        else:
            ctx.inputs.append(arg)
    ctx.save_for_backward(*tensor_inputs)
    fwd_ctx = context_fn()[0] if context_fn is not None else contextlib.nullcontext()
    with grad_mode.no_grad(), fwd_ctx:
        return run_function(*args)


def _backward(ctx, grads):
    from .. import autograd
    inputs = list(ctx.inputs)
    for i, t in zip(ctx.tensor_indices, ctx.saved_tensors):
        inputs[i] = t
    # Mimic the forward's RNG state; restore the surrounding one afterwards (fork_rng).
    outer_state = creation.get_rng_state() if ctx.preserve_rng_state else None
    try:
        if ctx.preserve_rng_state:
            creation.set_rng_state(ctx.fwd_cpu_state)
        detached = detach_variable(tuple(inputs))
        rec_ctx = ctx.context_fn()[1] if ctx.context_fn is not None else contextlib.nullcontext()
        with grad_mode.enable_grad(), rec_ctx:
            outputs = ctx.run_function(*detached)
    finally:
        if outer_state is not None:
            creation.set_rng_state(outer_state)
    if isinstance(outputs, Tensor):
        outputs = (outputs,)
    outs_with_grad, grads_with_grad = [], []
    for i, o in enumerate(outputs):
        if isinstance(o, Tensor) and o.requires_grad:
            outs_with_grad.append(o)
            grads_with_grad.append(grads[i])
    if not outs_with_grad:
        if ctx.context_fn is not None:  # use_reentrant=False: nothing inside needed grad
            return tuple(None for _ in detached)
        raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not necessary")
    autograd.backward(outs_with_grad, grads_with_grad)
    return tuple(inp.grad if isinstance(inp, Tensor) else None for inp in detached)


def checkpoint(function, *args, use_reentrant=None, context_fn=noop_context_fn,
               determinism_check=_DEFAULT_DETERMINISM_MODE, debug=False, early_stop=None,
               preserve_rng_state=True, **kwargs):
    """Run ``function(*args)`` without keeping its activations; recompute them in backward.

    Parameters mirror ``torch.utils.checkpoint.checkpoint``. ``determinism_check``,
    ``debug`` and ``early_stop`` are accepted (``use_reentrant=False`` only) and ignored.
    """
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint: the use_reentrant parameter should be "
            "passed explicitly. Starting in PyTorch 2.9, calling checkpoint "
            "without use_reentrant will raise an exception. use_reentrant=False is "
            "recommended, but if you need to preserve the current default "
            "behavior, you can pass use_reentrant=True. Refer to docs for more "
            "details on the differences between the two variants.",
            stacklevel=2)
        use_reentrant = True
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
        if (context_fn is not noop_context_fn and context_fn is not None) or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when "
                             "use_reentrant=False.")
        return CheckpointFunction.apply(function, preserve_rng_state, *args)
    if determinism_check not in ("default", "none"):
        raise ValueError(
            f"determinism_check should be one of ['default', 'none'], but got {determinism_check}")
    fn = function
    if kwargs:
        def fn(*a, _f=function, _kw=kwargs):
            return _f(*a, **_kw)
    dummy = creation.empty((0,), requires_grad=True)
    return _NonReentrantCheckpointFunction.apply(
        fn, preserve_rng_state, context_fn or noop_context_fn, dummy, *args)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Checkpoint a sequential model in ``segments`` chunks (the last chunk runs normally)."""
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant "
            "parameter should be passed explicitly. "
            "In version 2.9 we will raise an exception if use_reentrant "
            "is not passed. use_reentrant=False is "
            "recommended, but if you need to preserve the current default "
            "behavior, you can pass use_reentrant=True. Refer to docs for more "
            "details on the differences between the two variants.", stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))

    def run_function(start, end, functions):
        def forward(input):
            for j in range(start, end + 1):
                input = functions[j](input)
            return input
        return forward

    from ..nn import Sequential
    if isinstance(functions, Sequential):
        functions = list(functions.children())
    segment_size = len(functions) // segments
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(run_function(start, end, functions), input,
                           use_reentrant=use_reentrant, preserve_rng_state=preserve)
    return run_function(end + 1, len(functions) - 1, functions)(input)

"""Gradient (activation) checkpointing, like ``torch.utils.checkpoint``.

``checkpoint(fn, *args)`` runs ``fn`` under ``no_grad`` in the forward pass, so none of
the segment's intermediate activations are kept: only the inputs (and the RNG state) are
saved. In backward the segment is recomputed with grad enabled -- with the RNG state
restored, so dropout draws the same masks -- and the incoming gradients are
backpropagated through the recomputed graph into the inputs and into any parameters the
segment uses (their ``.grad`` is accumulated exactly as without checkpointing).

The pieces: a ``_Segment`` remembers one call (function, non-tensor arguments, RNG
state, recomputation context) and knows how to replay it and backpropagate through the
replay; ``CheckpointFunction`` is the graph node that holds the segment and the saved
input tensors. Both ``use_reentrant`` variants use it (backward calls
``autograd.backward`` from inside the engine). ``use_reentrant=False`` additionally
accepts keyword arguments for ``fn`` and ``context_fn``, and records the output even
when no input requires grad (so parameters inside still get gradients): a zero-size
"anchor" tensor requiring grad is passed along for that.

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
import functools
import warnings

from .. import creation
from ..autograd import function as _function
from ..autograd import grad_mode
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential", "detach_variable", "check_backward_validity",
           "noop_context_fn"]

_DEFAULT_DETERMINISM_MODE = "default"
_DETERMINISM_MODES = ["default", "none"]

_USE_REENTRANT_ADVICE = (
    "use_reentrant=False is "
    "recommended, but if you need to preserve the current default "
    "behavior, you can pass use_reentrant=True. Refer to docs for more "
    "details on the differences between the two variants.")


def noop_context_fn():
    """The default ``context_fn``: no context around either the forward or the recomputation."""
    return contextlib.nullcontext(), contextlib.nullcontext()


def detach_variable(inputs):
    """Detach each tensor of the tuple ``inputs``, keeping its ``requires_grad``."""
    if not isinstance(inputs, tuple):
        raise RuntimeError(
            f"Only tuple of tensors is supported. Got Unsupported input type: {type(inputs).__name__}")
    return tuple(x.detach().requires_grad_(x.requires_grad) if isinstance(x, Tensor) else x
                 for x in inputs)


def check_backward_validity(inputs):
    """Warn when no tensor among ``inputs`` requires grad (the checkpoint would be useless)."""
    if not any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                      stacklevel=2)


def _unexpected_kwargs(kwargs):
    return ValueError("Unexpected keyword arguments: " + ",".join(kwargs))


class _Segment:
    """One checkpointed call of ``function``: everything needed to run it again.

    Tensor arguments are not kept here (the graph node saves them, so in-place changes
    and double backward are detected as for any saved tensor); the other arguments are
    kept in their positions.
    """

    def __init__(self, function, args, preserve_rng_state, context_fn, strict):
        self.function = function
        self.arguments = [None if isinstance(a, Tensor) else a for a in args]
        self.tensor_slots = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.rng_state = creation.get_rng_state() if preserve_rng_state else None
        self.context_fn = context_fn
        # reentrant: a segment whose outputs all lack grad_fn is an error, as in PyTorch
        self.strict = strict

    def first_run(self, args):
        forward_ctx, self.recompute_ctx = self.context_fn()
        with grad_mode.no_grad(), forward_ctx:
            return self.function(*args)

    def _replay(self, saved_tensors):
        """Run the function again, with recording on, on fresh leaves: ``(leaves, outputs)``."""
        args = list(self.arguments)
        for slot, tensor in zip(self.tensor_slots, saved_tensors, strict=True):
            args[slot] = tensor
        leaves = detach_variable(tuple(args))
        with self._rng_as_in_forward(), grad_mode.enable_grad(), self.recompute_ctx:
            outputs = self.function(*leaves)
        return leaves, outputs

    @contextlib.contextmanager
    def _rng_as_in_forward(self):
        """Draw the forward's random numbers again, leaving the caller's stream untouched."""
        if self.rng_state is None:
            yield
            return
        callers = creation.get_rng_state()
        creation.set_rng_state(self.rng_state)
        try:
            yield
        finally:
            creation.set_rng_state(callers)

    def input_grads(self, saved_tensors, output_grads):
        """Gradients for the call's arguments (None for non-tensors) given the outputs' grads."""
        leaves, outputs = self._replay(saved_tensors)
        if isinstance(outputs, Tensor):
            outputs = (outputs,)
        pairs = [(o, g) for o, g in zip(outputs, output_grads, strict=False)
                 if isinstance(o, Tensor) and o.requires_grad]
        if pairs:
            from .. import autograd
            autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
        elif self.strict:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not necessary")
        return tuple(x.grad if isinstance(x, Tensor) else None for x in leaves)


class CheckpointFunction(_function.Function):
    """The graph node of a checkpointed segment.

    ``apply(segment, anchor, *args)``: ``anchor`` is None (reentrant) or a zero-size
    tensor requiring grad (non-reentrant), which makes the node record even when no
    argument requires grad.
    """

    @staticmethod
    def forward(ctx, segment, anchor, *args):
        ctx.segment = segment
        ctx.save_for_backward(*(a for a in args if isinstance(a, Tensor)))
        return segment.first_run(args)

    @staticmethod
    def backward(ctx, *grads):
        return (None, None) + ctx.segment.input_grads(ctx.saved_tensors, grads)


def checkpoint(function, *args, use_reentrant=None, context_fn=noop_context_fn,
               determinism_check=_DEFAULT_DETERMINISM_MODE, debug=False, early_stop=None,
               preserve_rng_state=True, **kwargs):
    """Run ``function(*args)`` without keeping its activations; recompute them in backward.

    Parameters mirror ``torch.utils.checkpoint.checkpoint``. With ``use_reentrant=False``,
    ``determinism_check`` must be ``"default"`` or ``"none"`` but no check is run, and
    ``debug`` is accepted and ignored; ``early_stop`` is ignored by both variants.
    """
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint: the use_reentrant parameter should be "
            "passed explicitly. Starting in PyTorch 2.9, calling checkpoint "
            "without use_reentrant will raise an exception. " + _USE_REENTRANT_ADVICE,
            stacklevel=2)
        use_reentrant = True
    if use_reentrant:
        if kwargs:
            raise _unexpected_kwargs(kwargs)
        if context_fn not in (noop_context_fn, None) or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when "
                             "use_reentrant=False.")
        check_backward_validity(args)
        segment = _Segment(function, args, preserve_rng_state, noop_context_fn, strict=True)
        return CheckpointFunction.apply(segment, None, *args)
    if determinism_check not in _DETERMINISM_MODES:
        raise ValueError(
            f"determinism_check should be one of {_DETERMINISM_MODES}, but got {determinism_check}")
    bound = functools.partial(function, **kwargs) if kwargs else function
    segment = _Segment(bound, args, preserve_rng_state, context_fn or noop_context_fn, strict=False)
    anchor = creation.empty((0,), requires_grad=True)
    return CheckpointFunction.apply(segment, anchor, *args)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Checkpoint a sequential model in ``segments`` chunks (the last chunk runs normally).

    ``functions`` is an ``nn.Sequential`` (its children) or a list of callables; each of
    the first ``segments - 1`` chunks of ``len(functions) // segments`` of them is one
    ``checkpoint`` call, the rest of the chain runs with the activations kept.
    """
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant "
            "parameter should be passed explicitly. "
            "In version 2.9 we will raise an exception if use_reentrant "
            "is not passed. " + _USE_REENTRANT_ADVICE, stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise _unexpected_kwargs(kwargs)
    from ..nn import Sequential
    chain = list(functions.children()) if isinstance(functions, Sequential) else list(functions)
    size = len(chain) // segments
    checkpointed_end = size * (segments - 1)
    for start in range(0, checkpointed_end, size):
        input = checkpoint(_compose(chain[start:start + size]), input,
                           use_reentrant=use_reentrant, preserve_rng_state=preserve)
    return _compose(chain[checkpointed_end:])(input)


def _compose(steps):
    """The callables ``steps`` applied one after the other."""
    def run(x):
        for step in steps:
            x = step(x)
        return x
    return run

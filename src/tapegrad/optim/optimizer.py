"""``Optimizer``: the bookkeeping shared by every optimizer.

An optimizer here is two things kept apart:

* an *update rule*, a plain function in the algorithm's module (``adam_update``,
  ``sgd_update``...) that changes one parameter's NumPy array and its state arrays in
  place, written to be read next to the paper's formula;
* this class, which owns the parameter groups (hyper-parameter dicts with every default
  filled in), the per-parameter ``state`` (PyTorch's state names, tensors, ``step`` as a
  0-d float tensor), the PyTorch-format ``state_dict`` and the hooks.

Built-in optimizers implement ``_update_param(param, group)`` and let
``_step_each_param`` walk the parameters that have a gradient. Hooks are attached once
per class: ``__init_subclass__`` wraps the ``step`` a subclass defines (user subclasses
included), so nothing is patched at run time.
"""
from __future__ import annotations

import functools
import itertools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy
from typing import TYPE_CHECKING, Any

from .. import backend as B
from .. import dtypes
from ..autograd import grad_mode
from ..tensor import Tensor

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

xp = B.xp

__all__ = ["Optimizer", "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook",
           "required"]


class _RequiredParameter:
    """Marks a hyper-parameter that every parameter group must set (``defaults={"lr": required}``)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


class RemovableHandle:
    """What the ``register_*_hook`` methods return: ``handle.remove()`` unregisters the hook.

    Also a context manager that removes the hook on exit.
    """

    _ids = itertools.count()

    def __init__(self, registry):
        self.registry = registry
        self.id = next(self._ids)

    def remove(self) -> None:
        self.registry.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _add_hook(registry, hook, prepend=False):
    handle = RemovableHandle(registry)
    registry[handle.id] = hook
    if prepend:
        registry.move_to_end(handle.id, last=False)
    return handle


# Hooks that run around the step of every optimizer, before the instance's own.
_global_optimizer_pre_hooks: OrderedDict = OrderedDict()
_global_optimizer_post_hooks: OrderedDict = OrderedDict()


def register_optimizer_step_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Run ``hook(optimizer, args, kwargs)`` before every optimizer's ``step``.

    It may return ``(new_args, new_kwargs)`` to replace the call's arguments.
    """
    return _add_hook(_global_optimizer_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Run ``hook(optimizer, args, kwargs)`` after every optimizer's ``step``."""
    return _add_hook(_global_optimizer_post_hooks, hook)


def _typename(obj):
    """``torch.typename``: ``"torch.FloatTensor"`` for a tensor, else the (qualified) type name."""
    if isinstance(obj, Tensor):
        return obj.type()
    if not (hasattr(obj, "__qualname__") or hasattr(obj, "__name__")):
        obj = type(obj)
    name = getattr(obj, "__qualname__", None) or obj.__name__
    module = getattr(obj, "__module__", None) or ""
    return name if module in ("", "builtins") else f"{module}.{name}"


# ---------------------------------------------------------------------------- helpers for the rules
def _to_scalar(x):
    """A hyper-parameter as a Python number (``lr`` and ``betas`` may be 1-element tensors)."""
    if not isinstance(x, Tensor):
        return x
    if x.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    return x.item()


def _check_lr(lr):
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not lr >= 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_unsupported(differentiable=False, grad_scale=None, found_inf=None):
    """Refuse what the NumPy updates cannot do: record themselves on the tape, or AMP scaling."""
    if differentiable:
        raise NotImplementedError(
            "differentiable=True is not supported by tapegrad optimizers: updates are not recorded "
            "on the autograd tape")
    if grad_scale is not None or found_inf is not None:
        raise NotImplementedError("grad_scale/found_inf (AMP gradient scaling) are not supported by tapegrad")


def _check_fused(fused, foreach):
    # fused/foreach only select PyTorch kernels; here both run the same single-tensor rule.
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _step_dtype(fused=None):
    """dtype of the ``step`` counter: float32 for fused kernels, else the default float dtype."""
    return dtypes.float32 if fused else dtypes.get_default_dtype()


def _new_step_counter(fused=None, value=0.0):
    return Tensor._wrap(xp.asarray(value, dtype=_step_dtype(fused).np))


def _count_step(counter):
    """Advance a 0-d ``step`` tensor in place and return the new count as a Python float."""
    counter._data += 1
    return float(counter._data)


def _zeros_like(param):
    return Tensor._wrap(xp.zeros_like(param._data))


def _scalars(source, names):
    """``{name: source[name]}`` for ``names``, 1-element tensors read out as Python numbers:
    the keyword arguments an update rule takes from a parameter group."""
    return {name: _to_scalar(source[name]) for name in names}


def _check_optimizable(param, leaves_only):
    if not isinstance(param, Tensor):
        raise TypeError("optimizer can only optimize Tensors, "
                        "but one of the params is " + _typename(param))
    if leaves_only and not (param.is_leaf or param.retains_grad):
        raise ValueError("can't optimize a non-leaf Tensor")


def _run_hooks_that_may_replace(hooks, value, optimizer):
    """Call ``hook(optimizer, value)`` for each hook; a non-None result becomes the value."""
    for hook in hooks.values():
        replaced = hook(optimizer, value)
        if replaced is not None:
            value = replaced
    return value


class Optimizer:
    """Base class of all optimizers.

    ``params`` is an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts (parameter
    groups: ``{"params": [...], "lr": 0.1, ...}``); ``defaults`` gives every hyper-parameter a
    group does not set. A subclass defines ``step(closure=None)``; hooks run around it and
    ``_step_calls`` counts the completed calls.

    >>> class PlainSGD(Optimizer):
    ...     def __init__(self, params, lr=0.1):
    ...         super().__init__(params, {"lr": lr})
    ...     @tapegrad.no_grad()
    ...     def step(self, closure=None):
    ...         for group in self.param_groups:
    ...             for p in group["params"]:
    ...                 if p.grad is not None:
    ...                     p.add_(p.grad, alpha=-group["lr"])
    """

    # The constructor arguments that become ``defaults``, in PyTorch's order of group keys.
    _hyperparameters: tuple = ()
    # The group entries a built-in update rule reads (as keyword arguments of the same names).
    _rule_args: tuple = ()
    # Group keys an older checkpoint may lack, with the value they had before they existed.
    _group_fallbacks: dict = {}
    # Group entries fixed by the class itself, whatever a loaded state dict says.
    _group_overrides: dict = {}
    # In-place op recorded on a parameter's version counter by the built-in updates.
    _write_op = "addcdiv_"

    def __init__(self, params: Iterable[Tensor] | Iterable[tuple[str, Tensor]] | Iterable[dict[str, Any]],
                 defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._init_private_attributes()
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be "
                "an iterable of Tensors or dicts, but got " + _typename(params))
        given = list(params)
        if not given:
            raise ValueError("optimizer got an empty parameter list")
        self.state = defaultdict(dict)
        self.param_groups = []
        # A flat list of tensors (or of (name, tensor) pairs) makes a single group.
        for group in given if isinstance(given[0], dict) else [{"params": given}]:
            self.add_param_group(group)

    def _init_private_attributes(self):
        """Hook registries and the step counter: not pickled, so also made on unpickling."""
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
                     "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                     "_optimizer_load_state_dict_pre_hooks", "_optimizer_load_state_dict_post_hooks"):
            if name not in self.__dict__:
                setattr(self, name, OrderedDict())
        self.__dict__.setdefault("_step_calls", 0)
        self.__dict__.setdefault("_step_depth", 0)

    # ------------------------------------------------------------------ step and its hooks
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if (callable(step) and not isinstance(step, (staticmethod, classmethod))
                and not hasattr(step, "_runs_step_hooks")):
            cls.step = _with_step_hooks(step)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters once; ``closure`` re-evaluates the model and returns the loss."""
        raise NotImplementedError

    def register_step_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Run ``hook(optimizer, args, kwargs)`` before this optimizer's ``step``; it may return
        ``(new_args, new_kwargs)``. Returns a handle whose ``remove()`` unregisters it."""
        return _add_hook(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Run ``hook(optimizer, args, kwargs)`` after this optimizer's ``step``."""
        return _add_hook(self._optimizer_step_post_hooks, hook)

    def _step_each_param(self, closure):
        """The body of the built-in ``step``: the closure with grad enabled, then
        ``_update_param`` for each parameter that has a gradient, group by group."""
        loss = None
        if closure is not None:
            with grad_mode.enable_grad():
                loss = closure()
        # Like PyTorch, overflow and 0/0 give inf/nan without a warning.
        with xp.errstate(all="ignore"):
            for group in self.param_groups:
                for param in group["params"]:
                    if param._grad is not None:
                        self._update_param(param, group)
                        param._bump_version(self._write_op)
        return loss

    def _update_param(self, param, group):
        raise NotImplementedError

    @classmethod
    def _defaults_from(cls, arguments):
        """The ``defaults`` dict of a built-in optimizer from its constructor's ``locals()``."""
        return {name: arguments[name] for name in cls._hyperparameters}

    def _zero_state(self, group):
        """Names of the zero-initialised state arrays a parameter of ``group`` needs."""
        return ()

    def _state_for(self, param, group):
        """The parameter's state; on its first update, a ``step`` counter and the arrays
        named by ``_zero_state``."""
        state = self.state[param]
        if state:
            return state
        state["step"] = _new_step_counter(group.get("fused"))
        state.update((name, _zeros_like(param)) for name in self._zero_state(group))
        return state

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (a dict with ``"params"`` and optional hyper-parameters); unset
        hyper-parameters take the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        entries = param_group["params"]
        if isinstance(entries, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. Please use a list instead.")
        param_group["params"] = [entries] if isinstance(entries, Tensor) else list(entries)
        self._take_param_names(param_group)

        leaves_only = not self.defaults.get("differentiable", None)
        for param in param_group["params"]:
            _check_optimizable(param, leaves_only)

        unset = [(k, v) for k, v in self.defaults.items() if k not in param_group]
        for name, default in unset:
            if default is required:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization parameter {name}")
        param_group.update(unset)

        params = param_group["params"]
        if len(set(params)) != len(params):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "in future, this will cause an error; "
                "see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3)

        named = "param_names" in param_group
        if any(("param_names" in g) != named for g in self.param_groups):
            current_group_txt = "with names" if named else "without names"
            raise ValueError(
                "all optimizer param groups should be with/without names. "
                f"cannot add param group {current_group_txt} to the optimizer")

        taken = {p for g in self.param_groups for p in g["params"]}
        if not taken.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    @staticmethod
    def _take_param_names(param_group):
        """Split ``(name, tensor)`` pairs into ``params`` and ``param_names``."""
        entries = param_group["params"]
        pairs = [isinstance(e, tuple) and len(e) == 2 for e in entries]
        if not any(pairs):
            return
        if not all(pairs):
            raise ValueError(
                "all optimizer params should be with/without names. Some param names are missing")
        param_group["params"] = [p for _, p in entries]
        param_group["param_names"] = [n for n, _ in entries]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``.grad = None`` (default), or zero them in place."""
        for group in self.param_groups:
            for param in group["params"]:
                grad = param._grad
                if grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                    continue
                if grad.grad_fn is not None:
                    grad.detach_()
                else:
                    grad.requires_grad_(False)
                grad.zero_()

    # ------------------------------------------------------------------ state dicts
    def register_state_dict_pre_hook(self, hook: Callable[..., Any],
                                     prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer)`` runs before ``state_dict()`` builds the dict."""
        return _add_hook(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable[..., Any],
                                      prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer, state_dict)`` runs on the finished dict; a non-None result replaces it."""
        return _add_hook(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any],
                                          prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer, state_dict)`` runs before loading; a non-None result is loaded instead."""
        return _add_hook(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any],
                                           prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer)`` runs after ``load_state_dict()``."""
        return _add_hook(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    def _param_ids(self):
        """The integer ids that stand for the parameters in a state dict.

        Ids count positions across the groups; a tensor listed twice in one group keeps
        its last position, and one met in an earlier group keeps that group's id
        (PyTorch's numbering, so the files match).
        """
        ids = {}
        position = 0
        for group in self.param_groups:
            fresh = {}
            for param in group["params"]:
                if id(param) not in ids:
                    fresh[id(param)] = position
                position += 1
            ids.update(fresh)
        return ids

    def state_dict(self) -> dict[str, Any]:
        """The optimizer as a dict: ``{"state": {id: {...}}, "param_groups": [{..., "params": [ids]}]}``.

        Parameters are replaced by integer ids (see ``_param_ids``); state tensors are not
        copied. The format is PyTorch's, so ``torch.optim`` loads it and vice versa.
        """
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        ids = self._param_ids()
        packed_groups = []
        for group in self.param_groups:
            packed = dict(group)
            # "params" goes last, as ids
            packed["params"] = [ids[id(p)] for p in packed.pop("params")]
            packed_groups.append(packed)
        packed_state = {}
        for owner, per_param in self.state.items():
            packed_state[ids[id(owner)] if isinstance(owner, Tensor) else owner] = per_param
        return _run_hooks_that_may_replace(
            self._optimizer_state_dict_post_hooks,
            {"state": packed_state, "param_groups": packed_groups}, self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a dict made by ``state_dict()`` (here or by PyTorch) into this optimizer.

        Groups must match in number and size; their hyper-parameters are taken from the dict.
        Floating state tensors take their parameter's dtype, except ``step``.
        """
        state_dict = _run_hooks_that_may_replace(
            self._optimizer_load_state_dict_pre_hooks, dict(state_dict), self)

        saved_groups = deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(mine["params"]) != len(saved["params"])
               for mine, saved in zip(self.param_groups, saved_groups, strict=True)):
            raise ValueError(
                "loaded state dict contains a parameter group "
                "that doesn't match the size of optimizer's group")

        # saved id -> (the parameter now in its place, the saved group it came from)
        owners = {pid: (param, saved)
                  for mine, saved in zip(self.param_groups, saved_groups, strict=True)
                  for param, pid in zip(mine["params"], saved["params"], strict=True)}
        state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key not in owners:
                state[key] = value
                continue
            param, saved = owners[key]
            state[param] = _StateCaster(param, saved).cast(value)

        # Hyper-parameters come from the file; tensors (and names the file lacks) stay ours.
        for mine, saved in zip(self.param_groups, saved_groups, strict=True):
            saved["params"] = mine["params"]
            if "param_names" in mine:
                saved.setdefault("param_names", mine["param_names"])
        self.__setstate__({"state": state, "param_groups": saved_groups})
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)

    # ------------------------------------------------------------------ pickling, repr
    # Hooks and counters are not pickled (nor deep-copied).
    _pickled = ("defaults", "state", "param_groups")

    def __getstate__(self):
        return {name: vars(self)[name] for name in self._pickled}

    def __setstate__(self, state):
        vars(self).update(state)
        self._init_private_attributes()
        self.defaults.setdefault("differentiable", False)
        for group in self.param_groups:
            for key, value in self._group_fallbacks.items():
                group.setdefault(key, value)
            group.update(self._group_overrides)
        # Checkpoints from before ``step`` was a tensor store it as a number.
        for group in self.param_groups:
            for param in group["params"]:
                st = self.state.get(param)
                if st and "step" in st and not isinstance(st["step"], Tensor):
                    st["step"] = _new_step_counter(group.get("fused"), float(st["step"]))

    def __repr__(self):
        blocks = []
        for i, group in enumerate(self.param_groups):
            lines = [f"Parameter Group {i}"]
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
            blocks.append("\n".join(lines))
        return f"{type(self).__name__} (\n" + "\n\n".join(blocks) + "\n)"


class _StateCaster:
    """Moves one loaded parameter state onto its parameter: floating tensors take the
    parameter's dtype; ``step`` keeps its own (float32 when the group is capturable/fused)."""

    def __init__(self, param, saved_group):
        self.param = param
        self.step_to_float32 = bool(saved_group.get("capturable") or saved_group.get("fused"))

    def cast(self, value, key=None):
        if isinstance(value, Tensor):
            if key == "step":
                return value.to(dtype=dtypes.float32) if self.step_to_float32 else value
            if self.param.is_floating_point():
                return value.to(dtype=self.param.dtype)
            return value
        if isinstance(value, dict):
            return {k: self.cast(v, key=k) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.cast(v) for v in value)
        return value


def _with_step_hooks(step):
    """Wrap a class's ``step`` so that the global and per-instance hooks run around it and
    ``_step_calls`` counts it. A ``step`` that calls ``super().step()`` runs them once."""

    @functools.wraps(step)
    def step_with_hooks(*args, **kwargs):
        opt = args[0]
        if opt._step_depth:
            return step(*args, **kwargs)
        for hook in itertools.chain(_global_optimizer_pre_hooks.values(),
                                    opt._optimizer_step_pre_hooks.values()):
            result = hook(opt, args, kwargs)
            if result is None:
                continue
            if not (isinstance(result, tuple) and len(result) == 2):
                raise RuntimeError(
                    f"{step} must return None or a tuple of (new_args, new_kwargs), but got {result}.")
            args, kwargs = result
        opt._step_depth += 1
        try:
            out = step(*args, **kwargs)
        finally:
            opt._step_depth -= 1
        opt._step_calls += 1
        for hook in itertools.chain(_global_optimizer_post_hooks.values(),
                                    opt._optimizer_step_post_hooks.values()):
            hook(opt, args, kwargs)
        return out

    step_with_hooks._runs_step_hooks = True
    return step_with_hooks

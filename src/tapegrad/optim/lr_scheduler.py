"""Learning-rate schedulers with the API, state dicts and numbers of ``torch.optim.lr_scheduler``.

How a schedule is written here
------------------------------
Most schedulers are a *per-group rule* (``_PerGroupSchedule``): given the group index
``i``, the step number ``t`` (``last_epoch``) and the group's current learning rate,
``_next_lr(i, t, lr)`` says what the learning rate becomes.

* Multiplicative schedules (``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``ConstantLR``,
  ``LinearLR``, ``PolynomialLR``, ``MultiplicativeLR``) only declare ``_factor(i, t)``, the
  number the current rate is multiplied by at step ``t`` (``None``: left alone). Acting on
  the *current* rate is what lets several schedulers drive one optimizer (``ChainedScheduler``
  or plain consecutive ``step()`` calls), and it is how PyTorch defines them, so the floats
  agree with PyTorch's bit for bit. ``CosineAnnealingLR`` is the same idea around ``eta_min``.
  The constructor's evaluation leaves the current rate alone for ``ExponentialLR``,
  ``LinearLR`` (after step 0), ``PolynomialLR``, ``MultiplicativeLR`` and
  ``CosineAnnealingLR``, also when resuming at ``last_epoch >= 0``, as PyTorch 2.x does.
* Absolute schedules (``LambdaLR``, ``CyclicLR``, ``OneCycleLR``,
  ``CosineAnnealingWarmRestarts``) ignore the current rate: the value is a function of ``t``.
* ``_closed_lr(i, t)``, where a schedule has one, is the same schedule written from the base
  rate alone; the deprecated ``step(epoch)`` jumps with it (as PyTorch does). Its floats may
  differ from the stepped ones in the last bits, exactly as in PyTorch.

``SequentialLR`` and ``ChainedScheduler`` are compositions of such schedulers, and
``ReduceLROnPlateau`` is driven by a metric instead of the step number.

Every scheduler keeps the attribute names PyTorch's state dicts use (``last_epoch``,
``base_lrs``, ``_step_count``, ``_last_lr``, ...), so ``state_dict()`` moves between the
two libraries both ways.

The "``lr_scheduler.step()`` before ``optimizer.step()``" warning does not wrap the optimizer:
it compares the optimizer's ``_step_calls`` counter with its value when the scheduler was built.

Example::

    >>> opt = tapegrad.optim.SGD(model.parameters(), lr=0.1)
    >>> sched = StepLR(opt, step_size=30, gamma=0.1)
    >>> for epoch in range(100):
    ...     train(...)          # calls opt.step()
    ...     sched.step()
"""
from __future__ import annotations

import math
import types
import warnings
from bisect import bisect_right
from collections import Counter

from ..tensor import Tensor
from .optimizer import Optimizer

__all__ = [
    "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
    "ExponentialLR", "SequentialLR", "CosineAnnealingLR", "ChainedScheduler", "ReduceLROnPlateau",
    "CyclicLR", "CosineAnnealingWarmRestarts", "OneCycleLR", "PolynomialLR", "LRScheduler",
]

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)

_ORDER_DOCS = "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
_STEP_REPLACED_WARNING = (
    "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
    "initialization. Please, make sure to call `optimizer.step()` before "
    "`lr_scheduler.step()`. See more details at " + _ORDER_DOCS)
_STEP_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
    "In PyTorch 1.1.0 and later, you should call them in the opposite order: "
    "`optimizer.step()` before `lr_scheduler.step()`.  Failure to do this "
    "will result in PyTorch skipping the first value of the learning rate schedule. "
    "See more details at " + _ORDER_DOCS)


# ---------------------------------------------------------------- param-group helpers
def _own_copy(value):
    """A value a scheduler may keep: tensors are cloned so later in-place fills don't reach it."""
    return value.clone() if isinstance(value, Tensor) else value


def _column(optimizer, key):
    """``[group[key] for each group]``, with tensors cloned."""
    return [_own_copy(group[key]) for group in optimizer.param_groups]


def _store(group, key, value):
    """Set ``group[key]``; a tensor entry (a tensor lr) is filled in place, keeping its identity."""
    held = group.get(key)
    if isinstance(held, Tensor):
        held.fill_(value)
    else:
        group[key] = value


def _per_group(name, optimizer, value):
    """Spread a scalar over the param groups, or check a list/tuple has one value per group."""
    n_groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n_groups:
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, param_groups has {n_groups}.")
        return [_own_copy(v) for v in value]
    return [_own_copy(value) for _ in range(n_groups)]


def _require_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def _set_momentum(group, use_beta1, value):
    """Write a cycled momentum: SGD-like groups have ``momentum``, Adam-like ones ``betas[0]``."""
    if use_beta1:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


def _prime_momentum(optimizer, use_beta1, lows, highs):
    """A new momentum cycle starts high; its bounds are kept in the groups (PyTorch's keys)."""
    for group, low, high in zip(optimizer.param_groups, lows, highs, strict=False):
        _set_momentum(group, use_beta1, high)
        group.update(max_momentum=high, base_momentum=low)


def _momentum_support(optimizer):
    """Whether momentum is cycled through ``betas`` (True) or ``momentum`` (False)."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
    return "betas" in optimizer.defaults


# ---------------------------------------------------------------- user callables in state dicts
def _callable_state(fn):
    """What a state dict keeps of a user callable: a callable object's attributes; nothing of a
    plain function or lambda (their code is not data, and they often do not pickle)."""
    if fn is None or isinstance(fn, types.FunctionType):
        return None
    return dict(getattr(fn, "__dict__", {}))


def _restore_callable(fn, saved):
    if saved is not None and fn is not None:
        fn.__dict__.update(saved)


def _warn_if_outside_step(scheduler):
    if not scheduler._get_lr_called_within_step:
        warnings.warn("To get the last learning rate computed by the scheduler, "
                      "please use `get_last_lr()`.", UserWarning, stacklevel=3)


# =========================================================================== base class
class LRScheduler:
    """Base class of the learning-rate schedulers.

    Args:
        optimizer: the :class:`Optimizer` whose param groups' ``"lr"`` is scheduled.
        last_epoch: the index of the last step taken; ``-1`` starts a new schedule (and records
            each group's ``"initial_lr"``), a value ``>= 0`` resumes one, which needs the groups'
            ``"initial_lr"`` from the earlier run.

    Construction evaluates the schedule at step 0 and writes it into the optimizer. Each
    ``step()`` then advances ``last_epoch`` by one and writes the next rates. Subclasses
    implement ``get_lr()`` (the rates at ``last_epoch``); ``get_last_lr()`` returns the rates
    last written.
    """

    # True only while a step computes the rates / while the constructor's evaluation runs;
    # instance attributes under PyTorch's names, so they are in state dicts as in PyTorch's.
    _get_lr_called_within_step = False
    _is_initial = False
    #: ``_closed_lr(i, t)`` where a schedule has a closed form; ``None`` where not
    _closed_lr = None
    #: attributes that are wiring, not state
    _not_saved = frozenset({"optimizer", "_order_watch"})
    #: attributes holding user callables, saved through ``_callable_state``
    _callable_fields = ()

    def __init__(self, optimizer, last_epoch=-1):
        _require_optimizer(optimizer)
        self.optimizer = optimizer
        groups = optimizer.param_groups
        if last_epoch != -1:
            # resuming: the base rates must come from the earlier run
            unset = [k for k, group in enumerate(groups) if "initial_lr" not in group]
            if unset:
                raise KeyError(
                    f"param 'initial_lr' is not specified in param_groups[{unset[0]}] when resuming "
                    "scheduler with last_epoch >= 0.\n"
                    "This typically happens when:\n"
                    "1. You're trying to resume training from a checkpoint but haven't properly "
                    "loaded the optimizer state\n"
                    "2. You're using last_epoch >= 0 for a fresh training run (not recommended)")
        for group in groups:
            group.setdefault("initial_lr", _own_copy(group["lr"]))
        self._keep(base_lrs=_column(optimizer, "initial_lr"), last_epoch=last_epoch)
        self._watch_optimizer()
        self._first_step()

    def _keep(self, **settings):
        """Store settings as attributes under PyTorch's names (they are state-dict keys)."""
        self.__dict__.update(settings)

    # ------------------------------------------------------------ stepping
    def _watch_optimizer(self):
        """Remember how far the optimizer had stepped, and its ``step`` instance attribute if any.

        The optimizer counts its completed steps in ``_step_calls``; if that has not moved by
        the first ``scheduler.step()``, the calls came in the wrong order. Replacing
        ``optimizer.step`` on the instance afterwards hides the count, which gets its own warning.
        """
        self._order_watch = (getattr(self.optimizer, "_step_calls", 0),
                             vars(self.optimizer).get("step"))

    def _check_step_order(self):
        watch = getattr(self, "_order_watch", None)
        if watch is None:  # e.g. a scheduler rebuilt without __init__
            return
        calls_then, step_attr_then = watch
        if vars(self.optimizer).get("step") is not step_attr_then:
            warnings.warn(_STEP_REPLACED_WARNING, UserWarning, stacklevel=3)
        elif getattr(self.optimizer, "_step_calls", 0) == calls_then:
            warnings.warn(_STEP_ORDER_WARNING, UserWarning, stacklevel=3)

    def _first_step(self):
        """The constructor's evaluation (step 0); also used by SequentialLR on its first member."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def step(self, epoch=None):
        """Advance the schedule one step and write the new rates into the optimizer.

        ``epoch`` (deprecated, with a warning) jumps to that step instead, through the
        closed form where the schedule has one.
        """
        if self._step_count == 1:
            self._check_step_order()
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._advance(epoch)

    def _advance(self, epoch):
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
        else:
            self.last_epoch = epoch
        self._publish(self._rates_in_step(epoch))

    def _rates_in_step(self, epoch):
        """The rates at ``last_epoch``: by ``get_lr()``, or by the closed form for an explicit
        ``epoch`` where there is one. ``get_lr`` sees it is called from a step."""
        self._get_lr_called_within_step = True
        try:
            if epoch is None or self._closed_lr is None:
                return self.get_lr()
            return [self._closed_lr(i, epoch) for i in range(len(self.optimizer.param_groups))]
        finally:
            self._get_lr_called_within_step = False

    def _restart(self):
        """Go back to step 0 of this schedule, from its base rates (SequentialLR's milestones)."""
        self._step_count = 0
        self._advance(0)

    def _publish(self, rates):
        for group, rate in zip(self.optimizer.param_groups, rates, strict=False):
            _store(group, "lr", rate)
        self._last_lr = _column(self.optimizer, "lr")

    def get_lr(self):
        """The learning rates at ``last_epoch``, one per param group (implemented by subclasses)."""
        raise NotImplementedError

    def get_last_lr(self):
        """The learning rates this scheduler last wrote, one per param group."""
        return self._last_lr

    # ------------------------------------------------------------ state
    def state_dict(self):
        """The scheduler's state: every attribute except the optimizer (PyTorch's layout)."""
        state = {k: v for k, v in vars(self).items() if k not in self._not_saved}
        for name in self._callable_fields:
            held = state[name]
            state[name] = ([_callable_state(fn) for fn in held] if isinstance(held, list)
                           else _callable_state(held))
        return state

    def load_state_dict(self, state_dict):
        """Restore a state from :meth:`state_dict` (tapegrad's or PyTorch's)."""
        state = dict(state_dict)
        for name in self._callable_fields:
            saved, held = state.pop(name, None), getattr(self, name)
            if isinstance(held, list):
                for fn, fn_state in zip(held, saved or (), strict=False):
                    _restore_callable(fn, fn_state)
            else:
                _restore_callable(held, saved)
        self.__dict__.update(state)


class _LRScheduler(LRScheduler):
    """The former name of :class:`LRScheduler`, kept for code that subclasses it."""


# =========================================================================== per-group rules
class _PerGroupSchedule(LRScheduler):
    """A schedule given by ``_next_lr(i, t, lr)``: group ``i``'s rate at step ``t``, from its
    current rate ``lr``."""

    def get_lr(self):
        _warn_if_outside_step(self)
        t = self.last_epoch
        return [self._next_lr(i, t, group["lr"]) for i, group in enumerate(self.optimizer.param_groups)]

    def _next_lr(self, i, t, lr):
        raise NotImplementedError


class _FactorSchedule(_PerGroupSchedule):
    """A schedule that multiplies the current rate by ``_factor(i, t)`` (``None``: unchanged)."""

    def _next_lr(self, i, t, lr):
        factor = self._factor(i, t)
        return lr if factor is None else lr * factor

    def _factor(self, i, t):
        raise NotImplementedError


def _lambda_list(optimizer, lr_lambda):
    n_groups = len(optimizer.param_groups)
    if isinstance(lr_lambda, (list, tuple)):
        if len(lr_lambda) != n_groups:
            raise ValueError(f"Expected {n_groups} lr_lambdas, but got {len(lr_lambda)}")
        return list(lr_lambda)
    return [lr_lambda] * n_groups


class LambdaLR(_PerGroupSchedule):
    """Sets each group's rate to its base rate times ``lr_lambda(epoch)``.

    Args:
        optimizer: the wrapped optimizer.
        lr_lambda: a function of the epoch (an int), or a list of them, one per param group.
        last_epoch: see :class:`LRScheduler`.

    Example: ``LambdaLR(opt, lambda epoch: 0.95 ** epoch)``.
    """

    _callable_fields = ("lr_lambdas",)

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.optimizer = optimizer
        self.lr_lambdas = _lambda_list(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def _next_lr(self, i, t, lr):
        return self.base_lrs[i] * self.lr_lambdas[i](t)


class MultiplicativeLR(_FactorSchedule):
    """Multiplies each group's rate by ``lr_lambda(epoch)`` at every step after the first.

    Args:
        optimizer: the wrapped optimizer.
        lr_lambda: a function of the epoch giving the factor, or a list of them (one per group).
        last_epoch: see :class:`LRScheduler`.
    """

    _callable_fields = ("lr_lambdas",)

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.optimizer = optimizer
        self.lr_lambdas = _lambda_list(optimizer, lr_lambda)
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def _factor(self, i, t):
        return None if self._is_initial else self.lr_lambdas[i](t)


class StepLR(_FactorSchedule):
    """Multiplies the rates by ``gamma`` every ``step_size`` epochs.

    With ``lr=0.05, step_size=30, gamma=0.1``: 0.05 for epochs 0-29, 0.005 for 30-59, ...
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self._keep(step_size=step_size, gamma=gamma)
        super().__init__(optimizer, last_epoch)

    def _factor(self, i, t):
        if t and t % self.step_size == 0:
            return self.gamma
        return None

    def _closed_lr(self, i, t):
        return self.base_lrs[i] * self.gamma ** (t // self.step_size)


class MultiStepLR(_FactorSchedule):
    """Multiplies the rates by ``gamma`` at each milestone (a repeated milestone counts twice).

    With ``lr=0.05, milestones=[30, 80], gamma=0.1``: 0.05 until epoch 29, 0.005 until 79,
    then 0.0005.
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self._keep(milestones=Counter(milestones), gamma=gamma)
        super().__init__(optimizer, last_epoch)

    def _factor(self, i, t):
        hits = self.milestones.get(t, 0)
        return self.gamma ** hits if hits else None

    def _closed_lr(self, i, t):
        passed = bisect_right(sorted(self.milestones.elements()), t)
        return self.base_lrs[i] * self.gamma ** passed


class ConstantLR(_FactorSchedule):
    """Scales the rates by ``factor`` for the first ``total_iters`` epochs, then restores them."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if factor < 0 or factor > 1.0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self._keep(factor=factor, total_iters=total_iters)
        super().__init__(optimizer, last_epoch)

    def _factor(self, i, t):
        if t == 0:
            return self.factor
        if t == self.total_iters:
            return 1.0 / self.factor
        return None

    def _closed_lr(self, i, t):
        restored = t >= self.total_iters
        return self.base_lrs[i] * (self.factor + restored * (1 - self.factor))


class LinearLR(_FactorSchedule):
    """Scales the rates by a factor going linearly from ``start_factor`` to ``end_factor``
    over ``total_iters`` epochs, then keeps them."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if start_factor <= 0 or start_factor > 1.0:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")
        if end_factor < 0 or end_factor > 1.0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self._keep(start_factor=start_factor, end_factor=end_factor, total_iters=total_iters)
        super().__init__(optimizer, last_epoch)

    def _factor(self, i, t):
        if t == 0:
            return self.start_factor
        if self._is_initial or t > self.total_iters:
            return None
        # ratio of consecutive points of the line: f(t) / f(t - 1)
        slope = self.end_factor - self.start_factor
        return 1.0 + slope / (self.total_iters * self.start_factor + (t - 1) * slope)

    def _closed_lr(self, i, t):
        done = min(self.total_iters, t)
        return self.base_lrs[i] * (
            self.start_factor + (self.end_factor - self.start_factor) * done / self.total_iters)


class ExponentialLR(_FactorSchedule):
    """Multiplies the rates by ``gamma`` every epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self._keep(gamma=gamma)
        super().__init__(optimizer, last_epoch)

    def _factor(self, i, t):
        return None if self._is_initial else self.gamma

    def _closed_lr(self, i, t):
        return self.base_lrs[i] * self.gamma ** t


class PolynomialLR(_FactorSchedule):
    """Decays the rates as ``(1 - t / total_iters) ** power`` over ``total_iters`` epochs."""

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        self._keep(total_iters=total_iters, power=power)
        super().__init__(optimizer, last_epoch)

    def _factor(self, i, t):
        if self._is_initial or t > self.total_iters:
            return None
        left_now = 1.0 - t / self.total_iters
        left_before = 1.0 - (t - 1) / self.total_iters
        return (left_now / left_before) ** self.power

    def _closed_lr(self, i, t):
        left = 1.0 - min(self.total_iters, t) / self.total_iters
        return self.base_lrs[i] * left ** self.power


class CosineAnnealingLR(_PerGroupSchedule):
    """Anneals the rates along a cosine from the base rate to ``eta_min`` in ``T_max`` epochs
    (and back up, if stepped further: the cosine continues).

    Stepped, each rate is derived from the current one, so other schedulers acting on the same
    optimizer compose with it; ``step(epoch)`` uses
    ``eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self._keep(T_max=T_max, eta_min=eta_min)
        super().__init__(optimizer, last_epoch)

    def _cos_at(self, t):
        return 1 + math.cos(math.pi * t / self.T_max)

    def _next_lr(self, i, t, lr):
        low, span = self.eta_min, self.base_lrs[i] - self.eta_min
        if self._is_initial:
            return lr
        if (t - 1 - self.T_max) % (2 * self.T_max) == 0:
            # the step leaving the trough, where the ratio below would be 0 / 0
            return lr + span * (1 - math.cos(math.pi / self.T_max)) / 2
        return self._cos_at(t) / self._cos_at(t - 1) * (lr - low) + low

    def _closed_lr(self, i, t):
        return self.eta_min + (self.base_lrs[i] - self.eta_min) * self._cos_at(t) / 2


class CosineAnnealingWarmRestarts(_PerGroupSchedule):
    """Cosine annealing from the base rate to ``eta_min`` over ``T_i`` epochs, restarting at
    the base rate after each period; periods grow ``T_0, T_0*T_mult, T_0*T_mult**2, ...``.

    ``step(epoch)`` takes fractional epochs (e.g. ``epoch + batch / n_batches``) without a
    deprecation warning.
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}")
        # T_cur: epochs into the current period; T_i: that period's length
        self._keep(T_0=T_0, T_i=T_0, T_mult=T_mult, eta_min=eta_min, T_cur=last_epoch)
        super().__init__(optimizer, last_epoch)

    def _next_lr(self, i, t, lr):
        phase = math.pi * self.T_cur / self.T_i
        return self.eta_min + (self.base_lrs[i] - self.eta_min) * (1 + math.cos(phase)) / 2

    def _locate(self, epoch):
        """``(T_cur, T_i)`` at an absolute (possibly fractional) epoch."""
        if epoch < self.T_0:
            return epoch, self.T_0
        if self.T_mult == 1:
            return epoch % self.T_0, self.T_0
        # periods T_0 * T_mult**k, k < n, fill T_0 * (T_mult**n - 1) / (T_mult - 1) epochs
        growth = self.T_mult - 1
        n = int(math.log(epoch / self.T_0 * growth + 1, self.T_mult))
        return epoch - self.T_0 * (self.T_mult ** n - 1) / growth, self.T_0 * self.T_mult ** n

    def _one_epoch_on(self):
        """``(T_cur, T_i)`` one epoch after the current position."""
        into, length = self.T_cur + 1, self.T_i
        if into < length:
            return into, length
        # a scheduler resumed at a large last_epoch may be several periods in
        return into % length, length * self.T_mult

    def step(self, epoch=None):
        """Advance one epoch, or (``epoch`` given, fractional allowed) move to that epoch."""
        self._advance(epoch)

    def _advance(self, epoch):
        # no _step_count and no order check here, as in PyTorch
        if epoch is None and self.last_epoch >= 0:
            self.T_cur, self.T_i = self._one_epoch_on()
            self.last_epoch += 1
        else:
            target = 0 if epoch is None else epoch
            if target < 0:
                raise ValueError(f"Expected non-negative epoch, but got {epoch}")
            self.T_cur, self.T_i = self._locate(target)
            self.last_epoch = math.floor(target)
        self._publish(self._rates_in_step(None))


class CyclicLR(_PerGroupSchedule):
    """Cycles the rates between ``base_lr`` and ``max_lr`` (the cyclical learning rate policy),
    and the momentum inversely between ``max_momentum`` and ``base_momentum``.

    A cycle rises for ``step_size_up`` steps and falls for ``step_size_down`` (default: the
    same). The amplitude is scaled by ``scale_fn`` of the cycle number (``scale_mode="cycle"``)
    or of the step (``"iterations"``): ``"triangular"`` keeps it, ``"triangular2"`` halves it
    every cycle, ``"exp_range"`` multiplies it by ``gamma`` every step. Step it after every
    batch.
    """

    _callable_fields = ("_scale_fn_custom",)
    _BUILTIN_SCALE_MODE = {"triangular": "cycle", "triangular2": "cycle", "exp_range": "iterations"}

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,
                 mode="triangular", gamma=1.0, scale_fn=None, scale_mode="cycle",
                 cycle_momentum=True, base_momentum=0.8, max_momentum=0.9, last_epoch=-1):
        _require_optimizer(optimizer)
        base_lrs = _per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:  # a new schedule starts at its base rates
            for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
                _store(group, "lr", lr)
        up = float(step_size_up)
        cycle_len = up + (up if step_size_down is None else float(step_size_down))
        self._keep(max_lrs=_per_group("max_lr", optimizer, max_lr),
                   total_size=cycle_len, step_ratio=up / cycle_len)

        if scale_fn is None and mode not in self._BUILTIN_SCALE_MODE:
            raise ValueError("mode is invalid and scale_fn is None")
        self._keep(mode=mode, gamma=gamma, _scale_fn_custom=scale_fn,
                   scale_mode=self._BUILTIN_SCALE_MODE[mode] if scale_fn is None else scale_mode,
                   cycle_momentum=cycle_momentum)
        if cycle_momentum:
            use_beta1 = _momentum_support(optimizer)
            lows = _per_group("base_momentum", optimizer, base_momentum)
            highs = _per_group("max_momentum", optimizer, max_momentum)
            self._keep(use_beta1=use_beta1, base_momentums=lows, max_momentums=highs)
            if last_epoch == -1:
                _prime_momentum(optimizer, use_beta1, lows, highs)
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x):
        """The amplitude scale at ``x`` (a cycle number or a step, see ``scale_mode``)."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        if self.mode == "exp_range":
            return self.gamma ** x
        return 1.0

    def _wave(self, t):
        """The fraction of the way from base to max at step ``t``, times the amplitude scale."""
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle      # position in the cycle, in [0, 1)
        rising = x <= self.step_ratio
        fraction = x / self.step_ratio if rising else (x - 1) / (self.step_ratio - 1)
        return fraction, self.scale_fn(cycle if self.scale_mode == "cycle" else t)

    def _next_lr(self, i, t, lr):
        fraction, scale = self._wave(t)
        return self.base_lrs[i] + (self.max_lrs[i] - self.base_lrs[i]) * fraction * scale

    def get_lr(self):
        rates = super().get_lr()
        if self.cycle_momentum:
            fraction, scale = self._wave(self.last_epoch)
            for group, low, high in zip(
                self.optimizer.param_groups, self.base_momentums, self.max_momentums, strict=False
            ):
                _set_momentum(group, self.use_beta1, high - (high - low) * fraction * scale)
        return rates


def _cos_ramp(start, end, pct):
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _linear_ramp(start, end, pct):
    return (end - start) * pct + start


class OneCycleLR(_PerGroupSchedule):
    """The 1cycle policy: the rate rises from ``max_lr / div_factor`` to ``max_lr``, then falls
    to ``max_lr / div_factor / final_div_factor`` (with ``three_phase``, it first falls back to
    the start and then anneals further), over ``total_steps`` (or ``epochs * steps_per_epoch``)
    steps; the momentum moves inversely. Step it after every batch.
    """

    _RAMPS = {"cos": _cos_ramp, "linear": _linear_ramp}

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        _require_optimizer(optimizer)
        self.optimizer = optimizer
        self.total_steps = self._count_steps(total_steps, epochs, steps_per_epoch)
        self._schedule_phases = self._phases(pct_start, three_phase)
        if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in self._RAMPS:
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._keep(_anneal_func_type=anneal_strategy)

        peaks = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:  # the rates the phases run between, per group
            for group, peak in zip(optimizer.param_groups, peaks, strict=True):
                group.update(initial_lr=peak / div_factor, max_lr=peak,
                             min_lr=peak / div_factor / final_div_factor)

        self._keep(cycle_momentum=cycle_momentum)
        if cycle_momentum:
            use_beta1 = _momentum_support(optimizer)
            highs = _per_group("max_momentum", optimizer, max_momentum)
            lows = _per_group("base_momentum", optimizer, base_momentum)
            self._keep(use_beta1=use_beta1)
            if last_epoch == -1:
                _prime_momentum(optimizer, use_beta1, lows, highs)
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _count_steps(total_steps, epochs, steps_per_epoch):
        def positive_int(value, name):
            if value <= 0 or not isinstance(value, int):
                raise ValueError(f"Expected positive integer {name}, but got {value}")
            return value

        if total_steps is not None:
            return positive_int(total_steps, "total_steps")
        if epochs is not None and steps_per_epoch is not None:
            return positive_int(epochs, "epochs") * positive_int(steps_per_epoch, "steps_per_epoch")
        raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")

    def _phases(self, pct_start, three_phase):
        """The phases as PyTorch saves them: the step each one ends at, and the group keys of
        the rate (and momentum) at its start and end."""
        warm_end = float(pct_start * self.total_steps) - 1
        last = self.total_steps - 1
        if three_phase:
            plan = [(warm_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                    (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                     "base_momentum", "max_momentum"),
                    (last, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            plan = [(warm_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                    (last, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        keys = ("end_step", "start_lr", "end_lr", "start_momentum", "end_momentum")
        return [dict(zip(keys, row, strict=True)) for row in plan]

    def _where(self, t):
        """The phase step ``t`` falls in and the fraction of it done (the last phase extends)."""
        begin = 0
        for k, phase in enumerate(self._schedule_phases):
            if t <= phase["end_step"] or k == len(self._schedule_phases) - 1:
                return phase, (t - begin) / (phase["end_step"] - begin)
            begin = phase["end_step"]

    def _ramp(self, group, phase, what, pct):
        ramp = self._RAMPS[self._anneal_func_type]
        return ramp(group[phase["start_" + what]], group[phase["end_" + what]], pct)

    def get_lr(self):
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(
                f"Tried to step {t} times. The specified number of total steps is {self.total_steps}")
        rates = super().get_lr()
        if self.cycle_momentum:
            phase, pct = self._where(t)
            for group in self.optimizer.param_groups:
                _set_momentum(group, self.use_beta1, self._ramp(group, phase, "momentum", pct))
        return rates

    def _next_lr(self, i, t, lr):
        phase, pct = self._where(t)
        return self._ramp(self.optimizer.param_groups[i], phase, "lr", pct)


# =========================================================================== compositions
def _check_members(owner, schedulers, optimizer):
    """PyTorch's checks on the members of a SequentialLR / ChainedScheduler."""
    for idx, member in enumerate(schedulers):
        if not hasattr(member, "optimizer"):
            raise TypeError(f"{owner} at index {idx} should have `optimizer` as its attribute.")
        if isinstance(member, ReduceLROnPlateau):
            raise ValueError(
                f"{owner} does not support `ReduceLROnPlateau` scheduler as it "
                "requires additional kwargs to be specified when calling `step`, "
                f"but got one at index {idx} in the given schedulers sequence.")
        if member.optimizer is not optimizer:
            raise ValueError(
                f"{owner} expects all schedulers to belong to the same optimizer, but "
                f"got scheduler {member.__class__.__name__} at index {idx} has {member.optimizer}, "
                f"which is different from {optimizer.__class__.__name__}.")


class _Composite(LRScheduler):
    """State handling of schedulers made of other schedulers (kept in ``_schedulers``):
    the members' states are saved as a list of their own state dicts."""

    _not_saved = LRScheduler._not_saved | {"_schedulers"}

    def state_dict(self):
        state = super().state_dict()
        state["_schedulers"] = [member.state_dict() for member in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        members = state.pop("_schedulers")
        super().load_state_dict(state)
        for member, member_state in zip(self._schedulers, members, strict=False):
            member.load_state_dict(member_state)


class SequentialLR(_Composite):
    """Runs ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]`` (started over from
    its step 0) until ``milestones[1]``, and so on.

    Example (5 epochs of linear warm-up, then exponential decay)::

        >>> warm = LinearLR(opt, start_factor=0.1, total_iters=5)
        >>> decay = ExponentialLR(opt, gamma=0.9)
        >>> sched = SequentialLR(opt, [warm, decay], milestones=[5])
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if len(schedulers) < 1:
            raise ValueError(
                f"{self.__class__.__name__} expects at least one scheduler, but got no scheduler.")
        _check_members(self.__class__.__name__, schedulers, optimizer)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more "
                "than the number of milestone points, but got number of schedulers "
                f"{len(schedulers)} and the "
                f"number of milestones to be equal to {len(milestones)}"
            )
        self.optimizer = optimizer
        self._keep(_schedulers=schedulers, _milestones=milestones, last_epoch=last_epoch + 1)
        # each member's constructor took its step 0 on the optimizer: take all of them back,
        # then start the first member alone
        for group in optimizer.param_groups:
            _store(group, "lr", group["initial_lr"])
        self.recursive_undo()
        schedulers[0]._first_step()
        self._last_lr = schedulers[0].get_last_lr()

    def recursive_undo(self, sched=None):
        """Take back the step each member (members of nested SequentialLRs included) took when
        it was constructed."""
        pending = list((self if sched is None else sched)._schedulers)
        while pending:
            member = pending.pop()
            if isinstance(member, SequentialLR):
                pending.extend(member._schedulers)
            else:
                member.last_epoch -= 1

    def step(self):
        """Advance one epoch, switching to the next scheduler at a milestone."""
        self.last_epoch += 1
        t = self.last_epoch
        member = self._schedulers[bisect_right(self._milestones, t)]
        if t in self._milestones:  # its first epoch: start it from its base rates
            member._restart()
        else:
            member.step()
        self._last_lr = member.get_last_lr()


class ChainedScheduler(_Composite):
    """Steps several schedulers of one optimizer together, each acting on the rate the
    previous one left (e.g. ``ConstantLR`` warm-up times ``ExponentialLR`` decay).

    Args:
        schedulers: the schedulers, stepped in this order.
        optimizer: their optimizer (default: the first scheduler's).
    """

    def __init__(self, schedulers, optimizer=None):
        if len(schedulers) < 1:
            raise ValueError(
                f"{self.__class__.__name__} expects at least one scheduler to be chained, "
                "but got no scheduler."
            )
        if optimizer is None:
            optimizer = schedulers[0].optimizer
        _check_members(self.__class__.__name__, schedulers, optimizer)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = _column(optimizer, "lr")

    def step(self):
        """Step every member once, in order."""
        for member in self._schedulers:
            member.step()
        self._last_lr = _column(self.optimizer, "lr")


# =========================================================================== metric-driven
_IMPROVES = {
    ("min", "rel"): lambda a, best, threshold: a < best * (1.0 - threshold),
    ("min", "abs"): lambda a, best, threshold: a < best - threshold,
    ("max", "rel"): lambda a, best, threshold: a > best * (threshold + 1.0),
    ("max", "abs"): lambda a, best, threshold: a > best + threshold,
}


class ReduceLROnPlateau(LRScheduler):
    """Multiplies the rates by ``factor`` when a metric has stopped improving.

    ``step(metric)`` is called once per epoch with the metric. An epoch improves on the best
    value so far when the metric is below ``best * (1 - threshold)`` (``mode="min"``,
    ``threshold_mode="rel"``), ``best - threshold`` (``"abs"``), or above ``best * (1 +
    threshold)`` / ``best + threshold`` with ``mode="max"``. After more than ``patience`` epochs
    without improvement the rates are reduced (never below ``min_lr``, and not at all when the
    change would be at most ``eps``), and counting pauses for ``cooldown`` epochs.

    Example::

        >>> sched = ReduceLROnPlateau(opt, mode="min", patience=5)
        >>> for epoch in range(100):
        ...     sched.step(validate(...))
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        _require_optimizer(optimizer)
        n_groups = len(optimizer.param_groups)
        per_group_floor = isinstance(min_lr, (list, tuple))
        if per_group_floor and len(min_lr) != n_groups:
            raise ValueError(f"expected {n_groups} min_lrs, got {len(min_lr)}")
        self.optimizer = optimizer
        self._keep(
            factor=factor,
            # a scalar min_lr is remembered, to cover param groups added later
            default_min_lr=None if per_group_floor else min_lr,
            min_lrs=list(min_lr) if per_group_floor else [min_lr] * n_groups,
            patience=patience, cooldown=cooldown, eps=eps,
            last_epoch=0, _last_lr=_column(optimizer, "lr"))
        self._set_criterion(mode, threshold, threshold_mode)
        # counters: a fresh start, any first metric is an improvement
        self._keep(best=self.mode_worse, cooldown_counter=0, num_bad_epochs=0)

    def _set_criterion(self, mode, threshold, threshold_mode):
        if mode not in {"min", "max"}:
            raise ValueError("mode " + mode + " is unknown!")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError("threshold mode " + threshold_mode + " is unknown!")
        self._keep(mode_worse=-math.inf if mode == "max" else math.inf,
                   mode=mode, threshold=threshold, threshold_mode=threshold_mode)

    @property
    def in_cooldown(self):
        """Whether the scheduler is in the cooldown after a reduction."""
        return self.cooldown_counter > 0

    def step(self, metrics, epoch=None):
        """Record one epoch's metric and reduce the rates if it has plateaued."""
        value = float(metrics)
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch

        improved = _IMPROVES[self.mode, self.threshold_mode](value, self.best, self.threshold)
        if improved:
            self.best = value
        streak = 0 if improved else self.num_bad_epochs + 1
        if self.in_cooldown:
            # epochs right after a reduction do not count as bad ones
            self.cooldown_counter -= 1
            streak = 0
        if streak > self.patience:
            self._reduce()
            self.cooldown_counter, streak = self.cooldown, 0
        self.num_bad_epochs = streak
        self._last_lr = _column(self.optimizer, "lr")

    def _reduce(self):
        groups = self.optimizer.param_groups
        if len(self.min_lrs) != len(groups):
            if self.default_min_lr is None:
                raise RuntimeError(
                    "The number of param groups in the `optimizer` "
                    f"({len(groups)}) differs "
                    f"from when `ReduceLROnPlateau` was initialized "
                    f"({len(self.min_lrs)}), usually due to a new "
                    "param group being added to the optimizer. Please "
                    "modify the `min_lrs` field to match the length "
                    "of the `optimizer` param groups.")
            self.min_lrs = [self.default_min_lr for _ in groups]
        for k, group in enumerate(groups):
            now = float(group["lr"])
            lowered = max(self.min_lrs[k], now * self.factor)
            # changes within eps are not worth making
            if now - lowered > self.eps:
                _store(group, "lr", lowered)

    def load_state_dict(self, state_dict):
        """Restore a state from :meth:`state_dict` (tapegrad's or PyTorch's)."""
        super().load_state_dict(state_dict)
        self._set_criterion(self.mode, self.threshold, self.threshold_mode)

"""L-BFGS (Nocedal, 1980; Liu & Nocedal, 1989), optionally with a strong-Wolfe line search.

The search is the bracketing/zoom scheme of Nocedal & Wright (Numerical Optimization,
algorithms 3.5 and 3.6) with safeguarded cubic interpolation, as in Schmidt's minFunc.

Numbers follow PyTorch's types so that state dicts match: inner products and the step
lengths derived from them are NumPy scalars of the parameters' dtype (0-d tensors in the
state), while a step length set from ``lr`` stays a Python number.
"""
from __future__ import annotations

from .. import backend as B
from ..autograd import grad_mode
from ..tensor import Tensor
from .optimizer import Optimizer, _check_lr, _to_scalar

xp = B.xp

__all__ = ["LBFGS", "cubic_minimizer", "lbfgs_direction", "strong_wolfe_search"]


def lbfgs_direction(grad, old_dirs, old_stps, ro, h_diag, al):
    """The quasi-Newton direction ``-H grad`` by the two-loop recursion (Nocedal & Wright, alg. 7.4).

    ``old_dirs`` are the gradient differences y_i, ``old_stps`` the steps s_i, ``ro`` the
    1 / (y_i . s_i), oldest first; ``h_diag`` scales the initial inverse Hessian. ``al`` (a list
    at least as long as the memory) receives the first loop's coefficients.
    """
    q = -grad
    for i in reversed(range(len(old_dirs))):
        al[i] = xp.dot(old_stps[i], q) * ro[i]
        q -= al[i] * old_dirs[i]
    r = q * h_diag
    for i in range(len(old_dirs)):
        beta = xp.dot(old_dirs[i], r) * ro[i]
        r += (al[i] - beta) * old_stps[i]
    return r


def cubic_minimizer(a, b, bounds=None):
    """Minimiser of the cubic through two points ``(x, f(x), f'(x))``, clipped to ``bounds``
    (default: the interval between them); the bounds' midpoint when the cubic has no minimum."""
    left, right = (a, b) if a[0] <= b[0] else (b, a)
    (x0, f0, g0), (x1, f1, g1) = left, right
    if bounds is None:
        bounds = (x0, x1)
    secant = (f1 - f0) / (x1 - x0)
    d1 = g0 + g1 - 3 * secant
    disc = d1 ** 2 - g0 * g1
    if not disc >= 0:
        return (bounds[0] + bounds[1]) / 2.0
    d2 = xp.sqrt(disc)
    # Nocedal & Wright (3.59), measured back from the right end
    fraction = (g1 + d2 - d1) / (g1 - g0 + 2 * d2)
    x = x1 - (x1 - x0) * fraction
    return min(max(x, bounds[0]), bounds[1])


class _Probe:
    """One trial step length with its loss, gradient and directional derivative."""

    __slots__ = ("t", "f", "g", "slope")

    def __init__(self, t, f, g, slope):
        self.t, self.f, self.g, self.slope = t, f, g, slope

    def cubic_point(self):
        return self.t, self.f, self.slope


class _Conditions:
    """The strong Wolfe tests for a search starting at loss ``f`` with slope ``gtd`` < 0."""

    def __init__(self, f, gtd, c1, c2):
        self.f, self.gtd, self.c1, self.c2 = f, gtd, c1, c2

    def sufficient(self, p):
        """Armijo: enough decrease for the step taken."""
        return not p.f > self.f + self.c1 * p.t * self.gtd

    def curved(self, p):
        """Strong curvature: the slope has flattened enough."""
        return abs(p.slope) <= -self.c2 * self.gtd


def strong_wolfe_search(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Find a step ``t`` along ``d`` meeting the strong Wolfe conditions.

    ``evaluate(t)`` returns ``(loss, flat_grad)`` at ``x + t d``; ``f``, ``g``, ``gtd`` are the
    loss, gradient and ``g . d`` at ``x``. Returns ``(loss, flat_grad, t, evaluations)`` for the
    best step found.
    """
    wolfe = _Conditions(f, gtd, c1, c2)
    calls = []

    def probe(step):
        loss, grad = evaluate(step)
        calls.append(step)
        return _Probe(step, loss, grad, xp.dot(grad, d))

    start = _Probe(0, f, g, gtd)
    prev, new, tries = start, probe(t), 0
    bracket, done = None, False
    # Phase 1: grow the step until an interval is known to hold an acceptable one.
    while tries < max_ls:
        if not wolfe.sufficient(new) or (tries > 1 and new.f >= prev.f):
            bracket = [prev, new]
            break
        if wolfe.curved(new):
            bracket, done = [new], True
            break
        if new.slope >= 0:
            bracket = [prev, new]
            break
        # extrapolate: at least 1% beyond the current step, at most ten times it
        shortest = new.t + 0.01 * (new.t - prev.t)
        step = cubic_minimizer(prev.cubic_point(), new.cubic_point(), (shortest, new.t * 10))
        prev, new = new, probe(step)
        tries += 1
    if tries == max_ls:
        bracket = [start, new]
    low = 0 if bracket[0].f <= bracket[-1].f else 1
    if not done:
        low = _zoom(bracket, low, probe, wolfe, max_ls - tries, tolerance_change,
                    xp.abs(d).max())
    best = bracket[low]
    return best.f, best.g, best.t, len(calls)


def _zoom(bracket, low, probe, wolfe, tries_left, tolerance_change, d_norm):
    """Phase 2 of the search: shrink ``bracket`` (two probes, ``low`` the one with the smaller
    loss) until a probe meets both conditions; returns the final index of ``low``."""
    high = 1 - low
    stalled = False
    for _ in range(tries_left):
        ends = (bracket[0].t, bracket[1].t)
        if abs(ends[1] - ends[0]) * d_norm < tolerance_change:
            break
        step = cubic_minimizer(bracket[0].cubic_point(), bracket[1].cubic_point())
        top, bottom = max(ends), min(ends)
        margin = 0.1 * (top - bottom)
        gap = min(top - step, step - bottom)
        if not gap < margin:
            stalled = False
        elif stalled or step >= top or step <= bottom:
            # Near an end twice running, or outside: take a step a tenth of the way in instead.
            step = bottom + margin if abs(step - bottom) <= abs(step - top) else top - margin
            stalled = False
        else:
            stalled = True
        new = probe(step)
        if not wolfe.sufficient(new) or new.f >= bracket[low].f:
            bracket[high] = new
            low = 0 if bracket[0].f <= bracket[1].f else 1
            high = 1 - low
            continue
        done = wolfe.curved(new)
        if not done and new.slope * (bracket[high].t - bracket[low].t) >= 0:
            bracket[high] = bracket[low]
        bracket[low] = new
        if done:
            break
    return low


def _as_number(value):
    """A state entry as the rule uses it: 0-d tensors become NumPy scalars, arrays stay arrays."""
    if isinstance(value, Tensor):
        return value._data[()] if value.dim() == 0 else value._data
    if isinstance(value, list):
        return [None if v is None else _as_number(v) for v in value]
    return value


def _as_state(value):
    """The inverse of ``_as_number``: NumPy arrays and scalars become tensors, numbers stay."""
    if isinstance(value, (xp.ndarray, xp.generic)):
        return Tensor._wrap(xp.asarray(value))
    if isinstance(value, list):
        return [None if v is None else _as_state(v) for v in value]
    return value


# Per-step memory kept in the state of the first parameter, in PyTorch's order.
_MEMORY = ("d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")


class LBFGS(Optimizer):
    """L-BFGS (``torch.optim.LBFGS``): each ``step(closure)`` runs up to ``max_iter`` iterations.

    All parameters form one flat vector (one parameter group only). ``closure`` must clear
    the gradients, compute the loss, call ``backward`` and return the loss; it is evaluated up
    to ``max_eval`` times (default ``max_iter * 5 // 4``). ``line_search_fn="strong_wolfe"``
    picks each step length by ``strong_wolfe_search``; otherwise the step is ``lr`` (scaled
    down on the very first iteration). State (under the first parameter): ``func_evals``,
    ``n_iter``, ``al``, ``d``, ``t``, ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``,
    ``prev_flat_grad``, ``prev_loss``.

    >>> opt = LBFGS(model.parameters(), line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = loss_fn(model(x), y)
    ...     loss.backward()
    ...     return loss
    >>> opt.step(closure)
    """

    _hyperparameters = ("lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change",
                        "history_size", "line_search_fn")

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        _check_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, self._defaults_from(locals()))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    @property
    def _params(self):
        return self.param_groups[0]["params"]

    def _flat_grad(self):
        return xp.concatenate([xp.zeros(p._data.size, p._data.dtype) if p._grad is None
                               else p._grad._data.reshape(-1) for p in self._params])

    def _shift(self, t, d):
        """Move the parameters by ``t * d`` (``d`` flat, in parameter order)."""
        offset = 0
        for p in self._params:
            n = p._data.size
            p._data += t * d[offset:offset + n].reshape(p._data.shape)
            p._bump_version("add_")
            offset += n

    def _evaluate(self, closure):
        with grad_mode.enable_grad():
            loss = closure()
        return loss, self._flat_grad()

    def step(self, closure):
        """Run up to ``max_iter`` L-BFGS iterations; returns the closure's first loss."""
        group = self.param_groups[0]
        lr = _to_scalar(group["lr"])
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with xp.errstate(all="ignore"):
            first_loss, g = self._evaluate(closure)
            loss = float(first_loss)
            evals = 1
            state["func_evals"] += 1
            if xp.abs(g).max() <= tol_grad:
                return first_loss
            mem = dict(zip(_MEMORY, (_as_number(state.get(k)) for k in _MEMORY), strict=True))
            iters = 0
            while iters < group["max_iter"]:
                iters += 1
                state["n_iter"] += 1
                self._choose_direction(state, mem, g, group["history_size"])
                mem["prev_flat_grad"], mem["prev_loss"] = g.copy(), loss
                d = mem["d"]
                t = mem["t"] = min(1.0, 1.0 / xp.abs(g).sum()) * lr if state["n_iter"] == 1 else lr
                gtd = xp.dot(g, d)
                if gtd > -tol_change:
                    break
                if group["line_search_fn"] is not None:
                    if group["line_search_fn"] != "strong_wolfe":
                        raise RuntimeError("only 'strong_wolfe' is supported")
                    loss, g, t, used = self._line_search(closure, t, d, loss, g, gtd)
                    mem["t"] = t
                    self._shift(t, d)
                    at_optimum = xp.abs(g).max() <= tol_grad
                else:
                    self._shift(t, d)
                    used, at_optimum = 0, False
                    if iters != group["max_iter"]:
                        new_loss, g = self._evaluate(closure)
                        loss, used = float(new_loss), 1
                        at_optimum = xp.abs(g).max() <= tol_grad
                evals += used
                state["func_evals"] += used
                if iters == group["max_iter"] or evals >= group["max_eval"] or at_optimum:
                    break
                if xp.abs(d * t).max() <= tol_change or abs(loss - mem["prev_loss"]) < tol_change:
                    break
        state.update((k, _as_state(mem[k])) for k in _MEMORY)
        return first_loss

    def _choose_direction(self, state, mem, g, history_size):
        """Set ``mem["d"]``: steepest descent on the first iteration, else update the memory with
        the last step and apply the two-loop recursion."""
        if state["n_iter"] == 1:
            mem.update(d=-g, old_dirs=[], old_stps=[], ro=[], H_diag=1)
            return
        y = g - mem["prev_flat_grad"]
        s = mem["d"] * mem["t"]
        ys = xp.dot(y, s)
        if ys > 1e-10:  # curvature positive enough to keep the pair (the update stays positive definite)
            for key, entry in (("old_dirs", y), ("old_stps", s), ("ro", 1.0 / ys)):
                mem[key].append(entry)
                if len(mem[key]) > history_size:
                    del mem[key][0]
            mem["H_diag"] = ys / xp.dot(y, y)
        if "al" not in state:
            state["al"] = [None] * history_size
        al = _as_number(state["al"])
        mem["d"] = lbfgs_direction(g, mem["old_dirs"], mem["old_stps"], mem["ro"], mem["H_diag"], al)
        state["al"] = _as_state(al)

    def _line_search(self, closure, t, d, loss, g, gtd):
        origin = [p._data.copy() for p in self._params]

        def evaluate(step):
            self._shift(step, d)
            value, grad = self._evaluate(closure)
            for p, saved in zip(self._params, origin, strict=True):
                p._data[...] = saved
            return float(value), grad

        return strong_wolfe_search(evaluate, t, d, loss, g, gtd)

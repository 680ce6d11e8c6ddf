"""Finite-difference checks of analytic gradients (float64, central differences)."""
from __future__ import annotations

from .. import backend as B
from ..tensor import Tensor

xp = B.xp


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return x if isinstance(x, (tuple, list)) else (x,)


def _diff_inputs(inputs):
    return [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]


def _outputs(func, inputs):
    out = _as_tuple(func(*inputs))
    return [o for o in out if isinstance(o, Tensor)]


def _numerical_jacobians(func, inputs, idx, eps):
    """J[k][j] : d out_k / d inputs[j], as (out.numel, in.numel) arrays."""
    from .grad_mode import no_grad
    with no_grad():
        base = _outputs(func, inputs)
    jac = [[xp.zeros((o._data.size, inputs[j]._data.size)) for j in idx] for o in base]
    for jj, j in enumerate(idx):
        x = inputs[j]._data
        flat = x.reshape(-1) if x.flags.c_contiguous else None
        if flat is None:
            raise GradcheckError("gradcheck needs contiguous inputs")
        for e in range(flat.size):
            orig = flat[e]
            with no_grad():
                flat[e] = orig + eps
                plus = [o._data.astype(xp.float64).reshape(-1).copy() for o in _outputs(func, inputs)]
                flat[e] = orig - eps
                minus = [o._data.astype(xp.float64).reshape(-1).copy() for o in _outputs(func, inputs)]
                flat[e] = orig
            for k in range(len(base)):
                jac[k][jj][:, e] = (plus[k] - minus[k]) / (2 * eps)
    return base, jac


def _analytical_jacobians(func, inputs, idx):
    from .engine import run_backward
    outs = _outputs(func, inputs)
    jac = [[xp.zeros((o._data.size, inputs[j]._data.size)) for j in idx] for o in outs]
    for k, o in enumerate(outs):
        if not o.requires_grad:
            continue
        for r in range(o._data.size):
            seed = xp.zeros(o._data.size, dtype=o._data.dtype)
            seed[r] = 1
            grads = run_backward([o], [Tensor._wrap(seed.reshape(o._data.shape))], retain_graph=True,
                                 inputs=[inputs[j] for j in idx], capture=True, allow_unused=True)
            for jj, g in enumerate(grads):
                if g is not None:
                    jac[k][jj][r, :] = g._data.reshape(-1)
    return outs, jac


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, fast_mode=False, **unused):
    """Compare analytic gradients with central finite differences.

    ``inputs`` that require grad should be float64. Returns True, or raises
    (or returns False with ``raise_exception=False``) naming the worst entry.
    """
    inputs = tuple(_as_tuple(inputs))
    idx = _diff_inputs(inputs)
    for j in idx:
        if inputs[j]._data.dtype != xp.float64:
            import warnings
            warnings.warn(f"Input #{j} requires gradient and is not a double precision floating point. "
                          "This check will likely fail if all the inputs are not of double precision "
                          "floating point.", UserWarning, stacklevel=2)
    try:
        _, num = _numerical_jacobians(func, inputs, idx, eps)
        _, ana = _analytical_jacobians(func, inputs, idx)
        for k in range(len(num)):
            for jj, j in enumerate(idx):
                a, n = ana[k][jj], num[k][jj]
                if not xp.allclose(a, n, rtol=rtol, atol=atol):
                    diff = xp.abs(a - n)
                    w = xp.unravel_index(int(diff.argmax()), diff.shape)
                    raise GradcheckError(
                        f"Jacobian mismatch for output {k} with respect to input {j},\n"
                        f"numerical:{n}\nanalytical:{a}\n"
                        f"worst entry {tuple(int(v) for v in w)}: numerical {n[w]:.8g}, analytical {a[w]:.8g}"
                    )
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, **unused):
    """gradcheck of the gradient itself: checks second derivatives (needs create_graph support)."""
    from .engine import run_backward
    inputs = tuple(_as_tuple(inputs))
    idx = _diff_inputs(inputs)
    outs = _outputs(func, inputs)
    if grad_outputs is None:
        rng = xp.random.default_rng(0)
        grad_outputs = [Tensor._wrap(rng.standard_normal(o._data.shape)).requires_grad_() for o in outs
                        if o.requires_grad]
    grad_outputs = list(_as_tuple(grad_outputs))
    n_in = len(inputs)

    def first_grads(*args):
        from .grad_mode import enable_grad
        ins, gos = args[:n_in], args[n_in:]
        # NOTE: grad mode on even when called under no_grad (the numerical Jacobian is), else
        # the outputs record nothing and every first gradient reads as zero.
        with enable_grad():
            os_ = [o for o in _outputs(func, ins) if o.requires_grad]
            gs = run_backward(os_, list(gos), retain_graph=True, create_graph=True,
                              inputs=[ins[j] for j in idx], capture=True, allow_unused=True)
        res = []
        for g, j in zip(gs, idx, strict=True):
            if g is None:
                g = Tensor._wrap(xp.zeros_like(ins[j]._data))
            res.append(g)
        return tuple(res)

    return gradcheck(first_grads, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)

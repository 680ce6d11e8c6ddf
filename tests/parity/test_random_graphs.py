"""Random expression graphs evaluated in tapegrad and in PyTorch (float64).

Hypothesis draws 1-3 leaves of broadcast-compatible shapes and 5-15 ops from a pool of
unary, binary, reduction, shape and indexing ops with safe domains (every op keeps
values finite whatever its input: ``log`` only ever sees ``1 + x*x``, division only
``1 + y*y``...). The same program runs in both libraries; every intermediate value,
the dtype and shape of each node, and the gradient of every leaf must agree.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tapegrad as tg  # noqa: E402

RTOL, ATOL = 1e-10, 1e-12

SETTINGS = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _nd(x):
    return len(x.shape)


# ----------------------------------------------------------------------------- op pool
# Each op: name -> (arity, valid(shapes) predicate, params(draw, shapes), fn(L, params, *xs)).
def _any(*shapes):
    return True


def _has_dim(*shapes):
    return len(shapes[0]) >= 1


def _has_2dims(*shapes):
    return len(shapes[0]) >= 2


class Pick:
    """Random choices for one program (NumPy RNG seeded by hypothesis: uniform over the pool,
    where hypothesis' derandomized draws would favour the first ops of each list)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def int(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))

    def bool(self):
        return bool(self.rng.integers(0, 2))

    def choice(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def subset(self, n):
        k = self.int(1, n)
        return tuple(int(i) for i in self.rng.permutation(n)[:k])


def _dim(d, shapes):
    return d.int(-len(shapes[0]), len(shapes[0]) - 1)


def _dim_kd(d, shapes):
    return dict(dim=_dim(d, shapes), keepdim=d.bool())


def _dims_kd(d, shapes):
    return dict(dim=d.subset(len(shapes[0])), keepdim=d.bool())


def _none(d, shapes):
    return {}


def _size_gt1(d, shapes):
    """A dim whose size is > 1 (variance over a single element is 0/0 with correction 1)."""
    return dict(dim=d.choice([i for i, s in enumerate(shapes[0]) if s > 1]), keepdim=d.bool())


def _has_big_dim(*shapes):
    return any(s > 1 for s in shapes[0])


UNARY = {
    "neg": lambda L, p, x: -x,
    "tanh": lambda L, p, x: L.tanh(x),
    "sigmoid": lambda L, p, x: x.sigmoid(),
    "sin": lambda L, p, x: L.sin(x),
    "cos": lambda L, p, x: x.cos(),
    "abs": lambda L, p, x: x.abs(),
    "relu": lambda L, p, x: L.relu(x),
    "square": lambda L, p, x: x * x,
    "pow3": lambda L, p, x: L.tanh(x) ** 3,
    "softplus": lambda L, p, x: L.nn.functional.softplus(x),
    "silu": lambda L, p, x: L.nn.functional.silu(x),
    "gelu": lambda L, p, x: L.nn.functional.gelu(x),
    "leaky_relu": lambda L, p, x: L.nn.functional.leaky_relu(x, 0.1),
    "log1p_sq": lambda L, p, x: L.log1p(x * x),
    "log_1p_sq": lambda L, p, x: L.log(1 + x * x),
    "sqrt_1p_sq": lambda L, p, x: L.sqrt(x * x + 1),
    "rsqrt_1p_sq": lambda L, p, x: (x * x + 1).rsqrt(),
    "exp_tanh": lambda L, p, x: L.exp(L.tanh(x)),
    "expm1_tanh": lambda L, p, x: L.expm1(x.tanh()),
    "clamp": lambda L, p, x: x.clamp(-0.5, 0.8),
    "clamp_min": lambda L, p, x: L.clamp(x, min=0.1),
    "scale": lambda L, p, x: 0.5 * x - 1.5,
    "rdiv": lambda L, p, x: 2.0 / (x * x + 1),
    "rpow": lambda L, p, x: 2.0 ** L.tanh(x),
    "sign_mul": lambda L, p, x: L.sign(x) * x,
    "contiguous_t": lambda L, p, x: x.mT.contiguous().mT if len(x.shape) >= 2 else x.contiguous(),
    "clone": lambda L, p, x: x.clone(),
}

BINARY = {
    "add": lambda L, p, x, y: x + y,
    "sub": lambda L, p, x, y: x - y,
    "mul": lambda L, p, x, y: x * y,
    "div": lambda L, p, x, y: x / (1 + y * y),
    "add_alpha": lambda L, p, x, y: L.add(x, y, alpha=-0.5),
    "maximum": lambda L, p, x, y: L.maximum(x, y),
    "minimum": lambda L, p, x, y: L.minimum(x, y),
    "where": lambda L, p, x, y: L.where(x > y, x, y * 2),
    "pow": lambda L, p, x, y: (x * x + 0.5) ** L.tanh(y),
    "atan2_like": lambda L, p, x, y: x * L.sigmoid(y),
}

# reductions / shape ops: (valid, params, fn)
OTHER = {
    "sum": (_any, lambda d, s: {}, lambda L, p, x: x.sum()),
    "sum_dim": (_has_dim, _dim_kd, lambda L, p, x: x.sum(**p)),
    "sum_dims": (_has_dim, _dims_kd, lambda L, p, x: L.sum(x, **p)),
    "mean_dim": (_has_dim, _dim_kd, lambda L, p, x: x.mean(**p)),
    "mean": (_any, _none, lambda L, p, x: L.mean(x)),
    "amax": (_has_dim, _dims_kd, lambda L, p, x: L.amax(x, **p)),
    "amin": (_has_dim, _dim_kd, lambda L, p, x: x.amin(**p)),
    "max_dim": (_has_dim, _dim_kd, lambda L, p, x: x.max(**p).values),
    "min_dim": (_has_dim, _dim_kd, lambda L, p, x: L.min(x, **p)[0]),
    "max": (_any, _none, lambda L, p, x: x.max()),
    "logsumexp": (_has_dim, _dims_kd, lambda L, p, x: L.logsumexp(x, **p)),
    "softmax": (_has_dim, lambda d, s: dict(dim=_dim(d, s)), lambda L, p, x: L.softmax(x, p["dim"])),
    "log_softmax": (_has_dim, lambda d, s: dict(dim=_dim(d, s)), lambda L, p, x: x.log_softmax(p["dim"])),
    "var": (_has_big_dim, _size_gt1, lambda L, p, x: x.var(**p)),
    "std_biased": (_has_dim, _dim_kd, lambda L, p, x: (x * x + 1).std(unbiased=False, **p)),
    "norm": (_has_dim, _dim_kd, lambda L, p, x: (x * x + 0.1).norm(**p)),
    "prod": (_has_dim, _dim_kd, lambda L, p, x: L.tanh(x).prod(**p)),
    "cumsum": (_has_dim, lambda d, s: dict(dim=_dim(d, s)), lambda L, p, x: x.cumsum(p["dim"])),
    "transpose": (_has_2dims, lambda d, s: dict(a=_dim(d, s), b=_dim(d, s)),
                  lambda L, p, x: x.transpose(p["a"], p["b"])),
    "permute_rev": (_has_dim, _none, lambda L, p, x: x.permute(*range(len(x.shape) - 1, -1, -1))),
    "unsqueeze": (lambda s: len(s) < 4, lambda d, s: dict(dim=d.int(-len(s[0]) - 1, len(s[0]))),
                  lambda L, p, x: x.unsqueeze(p["dim"])),
    "squeeze": (_any, _none, lambda L, p, x: x.squeeze()),
    "flatten": (_any, _none, lambda L, p, x: x.flatten()),
    "reshape_rev": (_has_dim, _none, lambda L, p, x: x.reshape(tuple(reversed(x.shape)))),
    "flip": (_has_dim, lambda d, s: dict(dim=_dim(d, s)), lambda L, p, x: x.flip(p["dim"])),
    "roll": (_has_dim, lambda d, s: dict(dim=_dim(d, s), k=d.int(-3, 3)),
             lambda L, p, x: x.roll(p["k"], p["dim"])),
    "getitem_int": (_has_dim, lambda d, s: dict(i=d.int(-s[0][0], s[0][0] - 1)),
                    lambda L, p, x: x[p["i"]]),
    "getitem_step": (_has_dim, _none, lambda L, p, x: x[..., ::2]),
    "getitem_neg_slice": (_has_dim, _none, lambda L, p, x: x[-2:]),
    "getitem_repeat_idx": (_has_dim, lambda d, s: dict(n=s[0][-1]),
                           lambda L, p, x: x[..., L.tensor([0, p["n"] - 1, 0, p["n"] // 2])]),
    "getitem_mask": (_has_dim, _none, lambda L, p, x: x[x > 0.1]),
    "getitem_none": (lambda s: len(s) < 4, _none, lambda L, p, x: x[None, ..., None][0]),
    "expand": (_any, lambda d, s: dict(k=d.int(1, 3)),
               lambda L, p, x: x.unsqueeze(0).expand(p["k"], *x.shape)),
    "repeat": (lambda s: len(s) < 4, _none, lambda L, p, x: x.repeat(2, *([1] * len(x.shape)))),
    "cat_self": (_has_dim, lambda d, s: dict(dim=_dim(d, s)), lambda L, p, x: L.cat([x, x * 2], p["dim"])),
    "stack_self": (lambda s: len(s) < 4, _none, lambda L, p, x: L.stack([x, -x], -1)),
    "split_first": (_has_dim, lambda d, s: dict(dim=_dim(d, s)), lambda L, p, x: x.split(2, p["dim"])[-1]),
    "chunk_sum": (_has_dim, _none, lambda L, p, x: sum(x.chunk(2, -1)[0].unbind(-1)) if x.shape[-1] else x),
    "narrow": (_has_dim, lambda d, s: dict(dim=_dim(d, s)),
               lambda L, p, x: x.narrow(p["dim"], 0, max(1, x.shape[p["dim"]] - 1))),
    "matmul_self_t": (_has_2dims, _none, lambda L, p, x: x @ x.mT),
    "matmul_vec": (_has_dim, _none, lambda L, p, x: x @ L.ones(x.shape[-1], dtype=L.float64) * 0.5),
    "einsum_diag_free": (_has_2dims, _none, lambda L, p, x: L.einsum("...ij,...ij->...j", x, x)),
    "gather": (_has_dim, _none, lambda L, p, x: x.gather(
        -1, L.zeros(x.shape, dtype=L.int64) + (L.arange(x.shape[-1]).flip(0) if x.shape[-1] else 0))),
    "masked_fill": (_has_dim, _none, lambda L, p, x: x.masked_fill(x < -0.5, 0.25)),
    "inplace_mul": (_any, _none, lambda L, p, x: x.clone().mul_(1.5).add_(x)),
    "setitem": (_has_dim, _none, lambda L, p, x: _setitem(x)),
}


def _setitem(x):
    z = x.clone()
    z[..., :1] = x[..., -1:] * 2
    return z


def _broadcastable(a, b):
    return all(m == n or m == 1 or n == 1 for m, n in zip(reversed(a), reversed(b), strict=False))


def _leaf_arrays(leaf_shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, s) for s in leaf_shapes], rng


@st.composite
def programs(draw):
    seed = draw(st.integers(0, 2 ** 31 - 1))
    pick = Pick(seed + 1)
    base = tuple(pick.int(1, 4) for _ in range(pick.int(0, 3)))
    leaf_shapes = []
    for _ in range(pick.int(1, 3)):
        k = pick.int(0, len(base))  # drop leading dims, and make some dims 1: broadcasting
        leaf_shapes.append(tuple(1 if pick.int(0, 3) == 0 else n for n in base[k:]))
    n_ops = pick.int(5, 15)
    steps = []
    # run the program in torch while choosing it: data-dependent shapes (masks) are then known,
    # and a step whose result is empty, huge or not finite is dropped
    values = [torch.tensor(a) for a in _leaf_arrays(leaf_shapes, seed)[0]]
    while len(steps) < n_ops:
        shapes = [tuple(v.shape) for v in values]
        kind = pick.choice(["unary", "binary", "other", "other"])
        # operands: mostly the newest nodes (deep chains), sometimes any node (shared subgraphs)
        i = len(shapes) - 1 - min(int(pick.rng.geometric(0.5)) - 1, len(shapes) - 1) \
            if pick.bool() else pick.int(0, len(shapes) - 1)
        if kind == "unary":
            step = ("unary", pick.choice(sorted(UNARY)), (i,), {})
        elif kind == "binary":
            partners = [j for j, s in enumerate(shapes) if _broadcastable(shapes[i], s)]
            step = ("binary", pick.choice(sorted(BINARY)), (i, pick.choice(partners)), {})
        else:
            name = pick.choice([n for n, (ok, _, _) in OTHER.items() if ok(shapes[i])])
            step = ("other", name, (i,), OTHER[name][1](pick, (shapes[i],)))
        out = _run_step(torch, step, values)
        if 0 < out.numel() <= 4096 and bool(torch.isfinite(out).all()):
            steps.append(step)
            values.append(out)
    return leaf_shapes, seed, steps


def _run_step(L, step, values):
    kind, name, idx, params = step
    xs = [values[i] for i in idx]
    if kind == "unary":
        return UNARY[name](L, params, *xs)
    if kind == "binary":
        return BINARY[name](L, params, *xs)
    return OTHER[name][2](L, params, *xs)


def _np(t):
    return t.detach().numpy()


@SETTINGS
@given(programs())
def test_random_graph_matches_torch(program):
    leaf_shapes, seed, steps = program
    arrays, rng = _leaf_arrays(leaf_shapes, seed)
    ours = [tg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    vo, vt = list(ours), list(theirs)
    for k, step in enumerate(steps):
        o = _run_step(tg, step, vo)
        t = _run_step(torch, step, vt)
        where = f"step {k} {step[:2]}"
        assert tuple(o.shape) == tuple(t.shape), f"{where}: shape {tuple(o.shape)} != {tuple(t.shape)}"
        assert str(o.dtype) == str(t.dtype), f"{where}: dtype {o.dtype} != {t.dtype}"
        assert o.requires_grad == t.requires_grad, where
        np.testing.assert_allclose(_np(o), _np(t), rtol=RTOL, atol=ATOL, err_msg=where)
        vo.append(o)
        vt.append(t)
    # backward from every node nobody consumed (so every branch is exercised), same seeds
    used = {i for _, _, idx, _ in steps for i in idx}
    roots = [k for k in range(len(arrays), len(vo)) if k not in used and vt[k].requires_grad]
    if not roots:
        return
    seeds = [rng.standard_normal(tuple(vt[k].shape)) for k in roots]
    torch.autograd.backward([vt[k] for k in roots], [torch.tensor(s) for s in seeds])
    tg.autograd.backward([vo[k] for k in roots], [tg.tensor(s) for s in seeds])
    for n, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if b.grad is None:
            assert a.grad is None, f"leaf {n}: torch has no gradient, tapegrad has one"
            continue
        assert a.grad is not None, f"leaf {n}: tapegrad has no gradient"
        assert str(a.grad.dtype) == str(b.grad.dtype)
        np.testing.assert_allclose(_np(a.grad), _np(b.grad), rtol=RTOL, atol=1e-10,
                                   err_msg=f"gradient of leaf {n}")


# ----------------------------------------------------------------------------- layers, indexing, views
# A second family of programs on one (N, C, H, W) leaf: convolution, pooling, batch norm,
# advanced indexing and in-place ops on views, mixed with pointwise ops. Every step keeps
# the tensor 4-D; a step torch refuses (a kernel larger than the image...) is redrawn.
NN_SETTINGS = settings(
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _conv_params(d, shape):
    n, c, h, w = shape
    k = d.int(1, 3)
    out_c = d.int(1, 3)
    rng = np.random.default_rng(d.int(0, 2 ** 31 - 1))
    return dict(w=rng.uniform(-1, 1, (out_c, c, k, k)), b=rng.uniform(-1, 1, out_c) if d.bool() else None,
                stride=d.int(1, 2), padding=d.int(0, 1), dilation=d.int(1, 2))


def _conv(L, p, x):
    b = None if p["b"] is None else L.tensor(p["b"])
    return L.nn.functional.conv2d(x, L.tensor(p["w"]), b, stride=p["stride"], padding=p["padding"],
                                  dilation=p["dilation"])


def _conv_t_params(d, shape):
    n, c, h, w = shape
    rng = np.random.default_rng(d.int(0, 2 ** 31 - 1))
    return dict(w=rng.uniform(-1, 1, (c, d.int(1, 3), 2, 2)), stride=d.int(1, 2))


def _pool_params(d, shape):
    k = d.int(1, 2)
    return dict(k=k, stride=d.int(1, 2), padding=d.int(0, k // 2), ceil=d.bool())


def _bn_params(d, shape):
    rng = np.random.default_rng(d.int(0, 2 ** 31 - 1))
    c = shape[1]
    return dict(w=rng.uniform(0.5, 1.5, c), b=rng.uniform(-1, 1, c))


def _index_params(d, shape):
    dim = d.int(1, 3)
    return dict(dim=dim, idx=[d.int(0, shape[dim] - 1) for _ in range(d.int(1, 4))])


def _mask_params(d, shape):
    m = [d.bool() for _ in range(shape[1])]
    m[d.int(0, shape[1] - 1)] = True  # never empty
    return dict(mask=m)


def _pair_params(d, shape):
    k = d.int(1, 3)
    return dict(a=[d.int(0, shape[2] - 1) for _ in range(k)], b=[d.int(0, shape[3] - 1) for _ in range(k)])


def _view_params(d, shape):
    return dict(
        kind=d.choice(["select", "narrow", "transpose", "diag_slice", "chain"]),
        c=d.int(0, shape[1] - 1),
        s=float(d.choice([-1.5, 0.5, 2.0])),
    )


def _inplace_on_view(L, p, x):
    y = x.clone()
    kind, c, s = p["kind"], p["c"], p["s"]
    if kind == "select":
        y[:, c].mul_(s)
    elif kind == "narrow":
        y.narrow(2, 0, 1).add_(x.narrow(2, -1, 1) * s)
    elif kind == "transpose":
        y.transpose(2, 3)[..., 0].sub_(s)
    elif kind == "diag_slice":
        y[:, :, ::2, ::2] = x[:, :, ::2, ::2].tanh() * s
    else:  # a view of a view, written twice
        v = y[:, c:]
        v[..., :1].mul_(s)
        v.add_(1.0)
    return y


NN_OPS = {
    "conv2d": (_conv_params, _conv),
    "conv_transpose2d": (_conv_t_params, lambda L, p, x: L.nn.functional.conv_transpose2d(
        x, L.tensor(p["w"]), stride=p["stride"])),
    "max_pool2d": (_pool_params, lambda L, p, x: L.nn.functional.max_pool2d(
        x, p["k"], p["stride"], p["padding"], ceil_mode=p["ceil"])),
    "avg_pool2d": (_pool_params, lambda L, p, x: L.nn.functional.avg_pool2d(
        x, p["k"], p["stride"], p["padding"], ceil_mode=p["ceil"])),
    "batch_norm": (_bn_params, lambda L, p, x: L.nn.functional.batch_norm(
        x, None, None, L.tensor(p["w"]), L.tensor(p["b"]), training=True)),
    "index_dim": (_index_params, lambda L, p, x: x.index_select(p["dim"], L.tensor(p["idx"]))
                  if p["dim"] == 1 else (x[:, :, L.tensor(p["idx"])] if p["dim"] == 2 else x[..., p["idx"]])),
    "index_mask": (_mask_params, lambda L, p, x: x[:, L.tensor(p["mask"])]),
    "index_pairs": (_pair_params, lambda L, p, x: x[:, :, L.tensor(p["a"]), L.tensor(p["b"])].unsqueeze(-1)),
    "inplace_view": (_view_params, _inplace_on_view),
    "tanh": (lambda d, s: {}, lambda L, p, x: x.tanh()),
    "relu_shift": (lambda d, s: {}, lambda L, p, x: L.relu(x - 0.1)),
}


@st.composite
def nn_programs(draw):
    seed = draw(st.integers(0, 2 ** 31 - 1))
    pick = Pick(seed + 7)
    shape = (pick.int(1, 3), pick.int(1, 3), pick.int(3, 7), pick.int(3, 7))
    x = torch.tensor(np.random.default_rng(seed).uniform(-2, 2, shape))
    steps = []
    tries = 0
    while len(steps) < pick.int(3, 6) and tries < 50:
        tries += 1
        name = pick.choice(sorted(NN_OPS))
        if name == "batch_norm" and x.shape[0] * x.shape[2] * x.shape[3] < 2:
            continue
        params = NN_OPS[name][0](pick, tuple(x.shape))
        try:
            out = NN_OPS[name][1](torch, params, x)
        except RuntimeError:
            continue  # e.g. a kernel larger than the (padded) image
        if out.dim() == 4 and 0 < out.numel() <= 4096 and min(out.shape[2:]) >= 1:
            steps.append((name, params))
            x = out
    return shape, seed, steps


@NN_SETTINGS
@given(nn_programs())
def test_random_layer_graph_matches_torch(program):
    shape, seed, steps = program
    a = np.random.default_rng(seed).uniform(-2, 2, shape)
    ours, theirs = tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    o, t = ours, theirs
    for k, (name, params) in enumerate(steps):
        o, t = NN_OPS[name][1](tg, params, o), NN_OPS[name][1](torch, params, t)
        where = f"step {k} {name} {params if name != 'conv2d' else ''}"
        assert tuple(o.shape) == tuple(t.shape), f"{where}: shape {tuple(o.shape)} != {tuple(t.shape)}"
        assert str(o.dtype) == str(t.dtype), where
        np.testing.assert_allclose(_np(o), _np(t), rtol=1e-9, atol=1e-10, err_msg=where)
    seed_grad = np.random.default_rng(seed + 1).standard_normal(tuple(t.shape))
    t.backward(torch.tensor(seed_grad))
    o.backward(tg.tensor(seed_grad))
    np.testing.assert_allclose(_np(ours.grad), _np(theirs.grad), rtol=1e-9, atol=1e-10,
                               err_msg=f"gradient after {[s[0] for s in steps]}")

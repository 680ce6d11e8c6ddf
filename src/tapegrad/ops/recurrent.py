"""Recurrent cell steps, each one graph node: ``rnn_tanh_cell``, ``rnn_relu_cell``, ``lstm_cell``,
``gru_cell``.

A step of a recurrent layer is a dozen elementwise ops around two matrix products; composed
from single ops it records a dozen nodes per time step. Here the forward computes the gates
once and keeps the activations; the backward is the closed-form vector-Jacobian product of
the cell equations (Hochreiter & Schmidhuber 1997 for the LSTM, Cho et al. 2014 for the GRU,
gate order as PyTorch lays out its weights: LSTM ``i, f, g, o``, GRU ``r, z, n``).

Inside the layers (``nn.RNN``/``nn.LSTM``/``nn.GRU``) the input's contribution to the gates is
computed for all time steps at once, with one matrix product; the steps then run with
``w_ih=None``, which means "``input`` already is ``x @ w_ih.T + b_ih``". A padded sequence runs
as one :class:`Scan` node per layer and direction, which drives the step nodes' forward and
backward on arrays (an LSTM has a loop of its own, on transposed states) and forms the
``w_hh`` gradient with one product over all steps (measured: per-step ``w_hh`` products and
their accumulation were most of a step-node layer's backward).
Packed sequences and projected LSTMs record one step node per time step.

Under ``create_graph`` the backward re-runs the step (or sequence) as a composite of primitive
ops and differentiates that, so second derivatives are exact without a hand-written double
backward.
"""
from __future__ import annotations

from .. import backend as B
from ..autograd.graph import Node
from ..tensor import Tensor
from ._registry import op

xp = B.xp


def _sig(a):
    # the logistic function through tanh: one ufunc, no overflow for large |a|
    out = xp.tanh(a * 0.5)
    out *= 0.5
    out += 0.5
    return out


def _gates(x, h, w_ih, w_hh, b_ih, b_hh):
    """``x @ w_ih.T + b_ih + h @ w_hh.T + b_hh`` (``x`` is the projection when ``w_ih`` is None)."""
    out = h @ w_hh.T
    out += x if w_ih is None else x @ w_ih.T
    if b_ih is not None:
        out += b_ih
    if b_hh is not None:
        out += b_hh
    return out


def _param_grads(ctx, dgi, dgh, x, h, w_ih, w_hh):
    """Gradients of the input, hidden state, both weights and both biases of a step."""
    n = ctx.needs_input_grad
    nx, nh, nwi, nwh, nbi, nbh = n[0], n[1], n[-4], n[-3], n[-2], n[-1]
    gx = (dgi if w_ih is None else dgi @ w_ih) if nx else None
    gh = dgh @ w_hh if nh else None
    gwi = dgi.T @ x if nwi else None
    gwh = dgh.T @ h if nwh else None
    gbi = dgi.sum(0) if nbi else None
    gbh = dgh.sum(0) if nbh else None
    return gx, gh, gwi, gwh, gbi, gbh


def _recompute(fn, inputs, grads):
    """Gradients of ``fn(*inputs)`` (a tuple) for upstream ``grads``, recorded for higher order."""
    from ..autograd import grad
    live = [i for i in inputs if isinstance(i, Tensor) and i.requires_grad]
    outs = fn(*inputs)
    pairs = [(o, g) for o, g in zip(outs, grads, strict=True) if g is not None]
    res = iter(grad([o for o, _ in pairs], live, [g for _, g in pairs], create_graph=True,
                    allow_unused=True) if live else ())
    return tuple(next(res) if isinstance(i, Tensor) and i.requires_grad else None for i in inputs)


# --------------------------------------------------------------- composites (double backward)
def _gates_t(x, h, w_ih, w_hh, b_ih, b_hh):
    out = h @ w_hh.T + (x if w_ih is None else x @ w_ih.T)
    if b_ih is not None:
        out = out + b_ih
    return out + b_hh if b_hh is not None else out


def _rnn_composite(act):
    def f(x, h, w_ih, w_hh, b_ih, b_hh):
        return (act(_gates_t(x, h, w_ih, w_hh, b_ih, b_hh)),)
    return f


def _lstm_composite(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, g, o = _gates_t(x, h, w_ih, w_hh, b_ih, b_hh).chunk(4, 1)
    c2 = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c2.tanh(), c2


def _gru_composite(x, h, w_ih, w_hh, b_ih, b_hh):
    gi = x if w_ih is None else x @ w_ih.T
    if b_ih is not None:
        gi = gi + b_ih
    gh = h @ w_hh.T
    if b_hh is not None:
        gh = gh + b_hh
    ir, iz, i_n = gi.chunk(3, 1)
    hr, hz, hn = gh.chunk(3, 1)
    r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
    n = (i_n + r * hn).tanh()
    return (n + z * (h - n),)


# --------------------------------------------------------------- the nodes
class RnnTanhCell(Node):
    """``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``; saves its output (``1 - h'^2``)."""

    relu = False

    def forward(ctx, x, h, w_ih, w_hh, b_ih=None, b_hh=None):
        out = xp.tanh(_gates(x, h, w_ih, w_hh, b_ih, b_hh))
        if ctx.needs_input_grad:
            ctx.saved = (x, h, w_ih, w_hh, b_ih, b_hh, out)
        return out

    def backward(ctx, g):
        x, h, w_ih, w_hh, b_ih, b_hh, out = ctx.saved
        if isinstance(g, Tensor):
            act = Tensor.relu if ctx.relu else Tensor.tanh
            return _recompute(_rnn_composite(act), (x, h, w_ih, w_hh, b_ih, b_hh), (g,))
        d = g * (out > 0) if ctx.relu else g * (1 - out * out)
        return _param_grads(ctx, d, d, x, h, w_ih, w_hh)


class RnnReluCell(RnnTanhCell):
    """``h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)``; the backward is RnnTanhCell's, with ``relu``."""

    relu = True

    def forward(ctx, x, h, w_ih, w_hh, b_ih=None, b_hh=None):
        out = _gates(x, h, w_ih, w_hh, b_ih, b_hh)
        xp.maximum(out, 0, out=out)
        if ctx.needs_input_grad:
            ctx.saved = (x, h, w_ih, w_hh, b_ih, b_hh, out)
        return out


class LstmCell(Node):
    """One LSTM step: outputs ``(h', c')``; the node keeps the four gate activations."""

    _bw_name = "ThnnFusedLstmCellBackward0"
    multi_output = True

    def forward(ctx, x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
        a = _gates(x, h, w_ih, w_hh, b_ih, b_hh)
        H = a.shape[1] // 4
        a[:, 2 * H:3 * H] *= 2.0  # tanh(u) = 2 sigmoid(2u) - 1: one sigmoid pass for all gates
        act = _sig(a)
        gg = act[:, 2 * H:3 * H]
        gg *= 2.0
        gg -= 1.0
        i, f, o = act[:, :H], act[:, H:2 * H], act[:, 3 * H:]
        c2 = f * c
        c2 += i * gg
        tc = xp.tanh(c2)
        h2 = o * tc
        if ctx.needs_input_grad:
            ctx.saved = (x, h, c, w_ih, w_hh, b_ih, b_hh)
            ctx.act, ctx.tc = act, tc
        return h2, c2

    def backward(ctx, gh2, gc2):
        x, h, c, w_ih, w_hh, b_ih, b_hh = ctx.saved
        if isinstance(gh2, Tensor) or isinstance(gc2, Tensor):
            return _recompute(_lstm_composite, (x, h, c, w_ih, w_hh, b_ih, b_hh), (gh2, gc2))
        act, tc = ctx.act, ctx.tc
        H = tc.shape[1]
        i, f, gg, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
        d = xp.empty_like(act)
        if gh2 is not None:
            dc = gh2 * o * (1 - tc * tc)
            if gc2 is not None:
                dc += gc2
            xp.multiply(gh2 * tc, o * (1 - o), out=d[:, 3 * H:])
        else:
            dc = gc2
            d[:, 3 * H:] = 0
        xp.multiply(dc * gg, i * (1 - i), out=d[:, :H])
        xp.multiply(dc * c, f * (1 - f), out=d[:, H:2 * H])
        xp.multiply(dc * i, 1 - gg * gg, out=d[:, 2 * H:3 * H])
        gx, gh, gwi, gwh, gbi, gbh = _param_grads(ctx, d, d, x, h, w_ih, w_hh)
        gc = dc * f if ctx.needs_input_grad[2] else None
        return gx, gh, gc, gwi, gwh, gbi, gbh


class GruCell(Node):
    """One GRU step: ``h' = (1 - z) n + z h`` with ``n = tanh(x_n + r (h W_hn^T + b_hn))``."""

    _bw_name = "ThnnFusedGruCellBackward0"

    def forward(ctx, x, h, w_ih, w_hh, b_ih=None, b_hh=None):
        gi = x if w_ih is None else x @ w_ih.T
        if b_ih is not None:
            gi = gi + b_ih
        gh = h @ w_hh.T
        if b_hh is not None:
            gh += b_hh
        H = h.shape[1]
        rz = gi[:, :2 * H] + gh[:, :2 * H]
        rz = _sig(rz)
        r, z = rz[:, :H], rz[:, H:]
        hn = gh[:, 2 * H:]
        n = xp.tanh(gi[:, 2 * H:] + r * hn)
        out = h - n
        out *= z
        out += n
        if ctx.needs_input_grad:
            ctx.saved = (x, h, w_ih, w_hh, b_ih, b_hh)
            ctx.rz, ctx.n, ctx.hn = rz, n, hn
        return out

    def backward(ctx, g):
        x, h, w_ih, w_hh, b_ih, b_hh = ctx.saved
        if isinstance(g, Tensor):
            return _recompute(_gru_composite, (x, h, w_ih, w_hh, b_ih, b_hh), (g,))
        rz, n, hn = ctx.rz, ctx.n, ctx.hn
        H = n.shape[1]
        r, z = rz[:, :H], rz[:, H:]
        dgi = xp.empty((g.shape[0], 3 * H), dtype=g.dtype)
        dn = g * (1 - z) * (1 - n * n)
        xp.multiply(dn * hn, r * (1 - r), out=dgi[:, :H])
        xp.multiply(g * (h - n), z * (1 - z), out=dgi[:, H:2 * H])
        dgi[:, 2 * H:] = dn
        dgh = dgi.copy()
        dgh[:, 2 * H:] *= r
        ctx.dgh = dgh  # (read by Scan, which forms the w_hh gradient of all steps at once)
        gx, gh, gwi, gwh, gbi, gbh = _param_grads(ctx, dgi, dgh, x, h, w_ih, w_hh)
        if gh is not None:
            gh += g * z
        return gx, gh, gwi, gwh, gbi, gbh


# --------------------------------------------------------------- a whole sequence
class _StepCtx:
    """The context a step node's forward/backward gets when ``Scan`` drives it directly."""

    __slots__ = ("needs_input_grad", "saved", "rz", "n", "hn", "dgh", "relu")

    def __init__(self, needs, relu=False):
        self.needs_input_grad, self.relu = needs, relu


_STEPS = {"RNN_TANH": RnnTanhCell, "RNN_RELU": RnnReluCell, "LSTM": LstmCell, "GRU": GruCell}


def _scan_composite(mode, reverse):
    """The sequence as recorded step nodes (for the derivative of the derivative)."""
    step = _STEPS[mode]

    def f(proj, h, c, w_hh, b_hh):
        outs = [None] * proj.shape[0]
        order = range(proj.shape[0] - 1, -1, -1) if reverse else range(proj.shape[0])
        for t in order:
            if c is not None:
                h, c = step.apply(proj[t], h, c, None, w_hh, None, b_hh)
            else:
                h = step.apply(proj[t], h, None, w_hh, None, b_hh)
            outs[t] = h
        from .shape import stack
        return (stack(outs, 0), h) + ((c,) if c is not None else ())
    return f


def _lstm_scan_forward(proj, h0, c0, w_hh, b_hh, reverse):
    """An LSTM layer's steps on arrays, in processing order ``k`` (time ``T-1-k`` when reversed).

    Works on transposed states, ``(H, B)`` per step, so that each gate is a contiguous block
    of rows (``w_hh @ h.T`` is also the faster product here). Returns ``hs`` and ``cs``
    (T+1, H, B), with ``hs[0] = h0.T``, the gate activations ``act`` (T, 4H, B): sigmoid
    of i, f, o and tanh of g, and ``tcs`` (T, H, B), the tanh of each new cell state. One
    ``exp`` serves all four gates: the weights and the input part are scaled once by -1 (and
    -2 for g), so ``1 / (1 + exp(s u))`` is ``sigmoid(u)``, and ``2 sigmoid(2u) - 1`` is
    ``tanh(u)``.
    """
    T, Bt, H = proj.shape[0], h0.shape[0], h0.shape[1]
    scale = xp.full((4 * H, 1), -1.0, dtype=proj.dtype)
    scale[2 * H:3 * H] = -2.0
    act = xp.empty((T, 4 * H, Bt), dtype=proj.dtype)
    xp.multiply((proj[::-1] if reverse else proj).transpose(0, 2, 1), scale, out=act)
    if b_hh is not None:
        act += b_hh[:, None] * scale
    w_s = w_hh * scale
    hs = xp.empty((T + 1, H, Bt), dtype=h0.dtype)
    cs = xp.empty((T + 1, H, Bt), dtype=h0.dtype)
    hs[0], cs[0] = h0.T, c0.T
    tcs = xp.empty((T, H, Bt), dtype=h0.dtype)
    tmp = xp.empty((H, Bt), dtype=h0.dtype)
    rec = xp.empty((4 * H, Bt), dtype=h0.dtype)
    with xp.errstate(over="ignore"):                      # exp(large) = inf gives sigmoid 0
        for k in range(T):
            a = act[k]
            xp.matmul(w_s, hs[k], out=rec)
            a += rec
            xp.exp(a, out=a)
            a += 1.0
            xp.reciprocal(a, out=a)
            g = a[2 * H:3 * H]
            g *= 2.0
            g -= 1.0
            xp.multiply(a[H:2 * H], cs[k], out=cs[k + 1])
            xp.multiply(a[:H], g, out=tmp)
            cs[k + 1] += tmp
            xp.tanh(cs[k + 1], out=tcs[k])
            xp.multiply(a[3 * H:], tcs[k], out=hs[k + 1])
    return hs, cs, act, tcs


def _lstm_scan_backward(hs, cs, act, tc, w_hh, g_out, g_h, g_c, reverse):
    """The gradient of the gates' pre-activations (T, B, 4H) in time order, and of h0, c0.

    Takes :func:`_lstm_scan_forward`'s transposed arrays. Everything that does not depend
    on the incoming gradient is formed for all steps at once; what is left per step is five
    elementwise calls and one product with ``w_hh``.
    """
    T, H, Bt = act.shape[0], hs.shape[1], hs.shape[2]
    i, f, g, o = (act[:, j * H:(j + 1) * H] for j in range(4))
    h = hs[1:]                                             # = o tanh(c), so:
    to_c = o - tc * h                                      # o (1 - tanh(c)^2): d c / d h
    to_o = h - o * h                                       # tanh(c) o (1 - o)
    to_ifg = xp.empty((T, 3, H, Bt), dtype=act.dtype)      # d gate / d c for i, f, g
    xp.multiply(g * i, 1.0 - i, out=to_ifg[:, 0])
    xp.multiply(cs[:-1] * f, 1.0 - f, out=to_ifg[:, 1])
    xp.multiply(i, 1.0 - g * g, out=to_ifg[:, 2])
    if g_out is not None:
        g_out = xp.ascontiguousarray((g_out[::-1] if reverse else g_out).transpose(0, 2, 1))
    d = xp.empty(act.shape, dtype=act.dtype)
    d4 = d.reshape(T, 4, H, Bt)
    gh = xp.zeros((H, Bt), dtype=act.dtype) if g_h is None else g_h.T.copy()
    gc = xp.zeros((H, Bt), dtype=act.dtype) if g_c is None else g_c.T.copy()
    gsum = xp.empty((H, Bt), dtype=act.dtype)
    dc = xp.empty((H, Bt), dtype=act.dtype)
    w_t = w_hh.T
    for k in range(T - 1, -1, -1):
        gk = gh if g_out is None else xp.add(g_out[k], gh, out=gsum)
        xp.multiply(gk, to_c[k], out=dc)
        dc += gc
        xp.multiply(gk, to_o[k], out=d4[k, 3])
        xp.multiply(dc, to_ifg[k], out=d4[k, :3])
        xp.multiply(dc, f[k], out=gc)
        xp.matmul(w_t, d[k], out=gh)
    d = (d[::-1] if reverse else d).transpose(0, 2, 1)
    return xp.ascontiguousarray(d), gh.T, gc.T


class Scan(Node):
    """One direction of one recurrent layer over a padded sequence, as one node.

    ``proj`` (T, B, gates*H) is the input's part of the gates (``x @ w_ih.T + b_ih``); the
    outputs are the hidden states (T, B, H), the last h and, for an LSTM, the last c. An
    LSTM runs :func:`_lstm_scan_forward`/``_backward``; the other cells' steps run the cell
    nodes' own forward and backward on arrays. The backward then forms the ``w_hh`` gradient
    of all steps with one matrix product instead of one per step.
    """

    _bw_name = "RnnLayerBackward0"
    multi_output = True

    def forward(ctx, proj, h0, c0, w_hh, b_hh, mode, reverse):
        step, lstm = _STEPS[mode], mode == "LSTM"
        record = bool(ctx.needs_input_grad)
        if lstm:
            hs, cs, act, tcs = _lstm_scan_forward(proj, h0, c0, w_hh, b_hh, reverse)
            outs = (hs[:0:-1] if reverse else hs[1:]).transpose(0, 2, 1)
            if record:
                ctx.saved = (proj, h0, c0, w_hh, b_hh)
                ctx.steps, ctx.mode, ctx.reverse = (hs, cs, act, tcs), mode, reverse
            # copies: the outputs may be changed in place, the saved states must not be
            return xp.ascontiguousarray(outs), hs[-1].T.copy(), cs[-1].T.copy()
        needs = [True] * 2 + [False] * 4
        T = proj.shape[0]
        outs = xp.empty((T,) + h0.shape, dtype=h0.dtype)
        steps = []
        h = h0
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            sc = _StepCtx(needs if record else (), getattr(step, "relu", False))
            h = step.forward(sc, proj[t], h, None, w_hh, None, b_hh)
            outs[t] = h
            steps.append((t, sc))
        if record:
            ctx.saved = (proj, h0, c0, w_hh, b_hh)
            ctx.steps, ctx.mode, ctx.reverse = steps, mode, reverse
        return outs, h

    def backward(ctx, g_out, g_h, g_c=None):
        proj, h0, c0, w_hh, b_hh = ctx.saved
        if any(isinstance(g, Tensor) for g in (g_out, g_h, g_c)):
            grads = (g_out, g_h) + ((g_c,) if c0 is not None else ())
            return _recompute(_scan_composite(ctx.mode, ctx.reverse), (proj, h0, c0, w_hh, b_hh), grads)
        step, lstm, gru = _STEPS[ctx.mode], ctx.mode == "LSTM", ctx.mode == "GRU"
        H = h0.shape[-1]
        n = ctx.needs_input_grad
        if lstm:
            hs, cs, act, tcs = ctx.steps
            dproj, gh, gc = _lstm_scan_backward(hs, cs, act, tcs, w_hh, g_out, g_h, g_c, ctx.reverse)
            dgh = dproj
            # the state before each step, in time order as dproj: (T, B, H)
            h_prev = (hs[-2::-1] if ctx.reverse else hs[:-1]).transpose(0, 2, 1)
        else:
            gh = g_h if g_h is not None else xp.zeros(h0.shape, dtype=h0.dtype)
            gc = None
            dproj = xp.empty(proj.shape, dtype=proj.dtype)
            dgh = xp.empty(proj.shape, dtype=proj.dtype) if gru else dproj
            h_prev = xp.empty(proj.shape[:2] + (H,), dtype=h0.dtype)
            for t, sc in reversed(ctx.steps):
                g = gh if g_out is None else g_out[t] + gh
                dproj[t], gh = step.backward(sc, g)[:2]
                if gru:
                    dgh[t] = sc.dgh
                h_prev[t] = sc.saved[1]
        flat = dgh.reshape(-1, dgh.shape[-1])
        gw = flat.T @ h_prev.reshape(-1, H) if n[3] else None
        gb = flat.sum(0) if len(n) > 4 and n[4] else None
        return dproj, gh if n[1] else None, gc if lstm and n[2] else None, gw, gb

    def _release(self):
        super()._release()
        self.steps = None  # the steps' activations go with the saved inputs


# --------------------------------------------------------------- public ops
def _check_cell(input, hx, w_ih, gates, name):
    from ._util import check_tensor
    check_tensor(input, name, "input", 1)
    for t in hx:
        check_tensor(t, name, "hx", 2)
    if input._data.ndim < 2:
        raise IndexError("Dimension out of range (expected to be in range of [-1, 0], but got 1)")
    if input.shape[1] != w_ih.shape[1]:
        raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} expected "
                           f"{w_ih.shape[1]}")
    for k, t in enumerate(hx):
        if t.shape[0] != input.shape[0]:
            raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match hidden{k} batch size "
                               f"{t.shape[0]}")
        if t.shape[1] * gates != w_ih.shape[0]:
            raise RuntimeError(f"hidden{k} has inconsistent hidden_size: got {t.shape[1]}, expected "
                               f"{w_ih.shape[0] // gates}")


@op("other", nodes=(RnnTanhCell,), method=False)
def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman step, ``tanh(input @ w_ih.T + b_ih + hx @ w_hh.T + b_hh)``.

    input (batch, input_size), hx (batch, hidden), w_ih (hidden, input_size),
    w_hh (hidden, hidden), biases (hidden,); returns (batch, hidden). "other": a fused
    cell step of matrix products and activations.
    """
    _check_cell(input, (hx,), w_ih, 1, "rnn_tanh_cell")
    return RnnTanhCell.apply(input, hx, w_ih, w_hh, b_ih, b_hh)


@op("other", nodes=(RnnReluCell,), method=False)
def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman step with ReLU, ``relu(input @ w_ih.T + b_ih + hx @ w_hh.T + b_hh)``; shapes as
    :func:`rnn_tanh_cell`."""
    _check_cell(input, (hx,), w_ih, 1, "rnn_relu_cell")
    return RnnReluCell.apply(input, hx, w_ih, w_hh, b_ih, b_hh)


@op("other", nodes=(LstmCell,), method=False)
def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step; ``hx = (h, c)``, returns ``(h', c')``.

    input (batch, input_size), h and c (batch, hidden), w_ih (4 hidden, input_size),
    w_hh (4 hidden, hidden), biases (4 hidden,), gates in the order input, forget, cell, output.
    """
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise RuntimeError("lstm_cell expects two hidden states")
    _check_cell(input, tuple(hx), w_ih, 4, "lstm_cell")
    return LstmCell.apply(input, hx[0], hx[1], w_ih, w_hh, b_ih, b_hh)


@op("other", nodes=(GruCell,), method=False)
def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step; input (batch, input_size), hx (batch, hidden), w_ih (3 hidden, input_size),
    w_hh (3 hidden, hidden), biases (3 hidden,), gates in the order reset, update, new."""
    _check_cell(input, (hx,), w_ih, 3, "gru_cell")
    return GruCell.apply(input, hx, w_ih, w_hh, b_ih, b_hh)

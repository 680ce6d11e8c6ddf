"""Recurrent layers ``RNN``, ``LSTM``, ``GRU`` and their one-step cells.

A layer runs, for each layer and direction, one matrix product for the input's part of the
gates over the whole sequence, then one fused step node per time step
(``ops/recurrent.py``). Variable-length batches arrive as a ``PackedSequence``: step ``t``
then runs only the first ``batch_sizes[t]`` sequences (they are sorted longest first), and
a sequence's final state is its state after its own last step.

Parameters follow PyTorch's names and layouts, so ``state_dict`` files move both ways:
``weight_ih_l{k}`` (gates*hidden, in), ``weight_hh_l{k}`` (gates*hidden, out),
``bias_ih_l{k}``, ``bias_hh_l{k}`` (gates*hidden,), ``weight_hr_l{k}`` (proj, hidden) for a
projected LSTM, with ``_reverse`` for the backward direction; gates in PyTorch's order
(LSTM input, forget, cell, output; GRU reset, update, new).
"""
from __future__ import annotations

import math
import numbers
import warnings

from ... import creation
from ...ops import recurrent as OR
from ...ops import shape as S
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_STEP = {"RNN_TANH": OR.RnnTanhCell, "RNN_RELU": OR.RnnReluCell, "LSTM": OR.LstmCell, "GRU": OR.GruCell}


def _uniform_reset(module):
    """Every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), in registration order."""
    bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0.0
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


def _param(shape, dtype, device):
    return Parameter(creation.empty(*shape, dtype=dtype, device=device))


def _check_sizes(input_size, hidden_size, num_layers, proj_size, dropout):
    if isinstance(dropout, bool) or not 0 <= float(dropout) <= 1:
        raise ValueError("dropout should be a number in range [0, 1] representing the probability of "
                         "an element being zeroed")
    if float(dropout) > 0 and num_layers == 1:
        warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                      f"expects num_layers greater than 1, but got dropout={dropout} and "
                      f"num_layers={num_layers}", stacklevel=3)
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} should be of type int, got: {type(v).__name__}")
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size),
                    ("num_layers", num_layers)):
        if v <= 0:
            raise ValueError(f"{name} must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


class RNNBase(Module):
    """The machinery shared by :class:`RNN`, :class:`LSTM` and :class:`GRU` (``mode`` picks the cell)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        _check_sizes(input_size, hidden_size, num_layers, proj_size, dropout)
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, \
            num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gate = _GATES[mode] * hidden_size
        out = proj_size or hidden_size
        dirs = 2 if bidirectional else 1
        self._flat_weights_names, self._all_weights = [], []
        for layer in range(num_layers):
            width = input_size if layer == 0 else out * dirs
            for d in range(dirs):
                shapes = [("weight_ih", (gate, width)), ("weight_hh", (gate, out))]
                if bias:
                    shapes += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                names = []
                for kind, shape in shapes:
                    name = f"{kind}_l{layer}" + ("_reverse" if d else "")
                    setattr(self, name, _param(shape, dtype, device))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    # -------------------------------------------------------------- PyTorch's API around the weights
    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        """The parameters, one list per layer and direction."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def flatten_parameters(self):
        """No-op: there is no fused weight buffer to compact (PyTorch's is for cuDNN)."""

    def reset_parameters(self):
        _uniform_reset(self)

    #: options shown in the repr when they differ from these defaults, in PyTorch's order
    _REPR_DEFAULTS = (("proj_size", 0), ("num_layers", 1), ("bias", True), ("batch_first", False),
                      ("dropout", 0), ("bidirectional", False))

    def extra_repr(self):
        shown = [f"{k}={getattr(self, k)}" for k, default in self._REPR_DEFAULTS
                 if getattr(self, k) != default]
        return ", ".join([f"{self.input_size}, {self.hidden_size}", *shown])

    def _expected_hidden(self, batch, cell=False):
        size = self.hidden_size if cell or not self.proj_size else self.proj_size
        return (self.num_layers * (2 if self.bidirectional else 1), batch, size)

    # -------------------------------------------------------------- forward
    def forward(self, input, hx=None):  # noqa: C901 - PyTorch's checks, in PyTorch's order
        """input (T, B, in) (``batch_first``: (B, T, in)), (T, in) unbatched, or a PackedSequence;
        hx (layers*dirs, B, out) (LSTM: a pair, c with hidden_size). Returns ``(output, h_n)``
        (LSTM: ``(output, (h_n, c_n))``); output (T, B, dirs*out)."""
        lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            bs = [int(b) for b in batch_sizes._data]
            batch, batched = bs[0], True
            x = data
        else:
            nd = input.ndim
            if nd not in (2, 3):
                extra = " tensor" if self.mode.startswith("RNN") else ""
                raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got {nd}D{extra} "
                                 "instead")
            batched, bs, sorted_indices = nd == 3, None, None
            x = input if batched else input.unsqueeze(1)
            if batched and self.batch_first:
                x = x.transpose(0, 1)
            batch = x.shape[1]
        states = self._check_hidden(hx, batched, lstm)
        wdt = self.weight_ih_l0.dtype
        if x.dtype != wdt:
            raise ValueError(f"RNN input dtype ({x.dtype}) does not match weight dtype ({wdt}). Convert "
                             f"input: input.to({wdt}), or convert model: model.to({x.dtype})")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {x.shape[-1]}")
        if not packed and x.shape[0] == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        states = self._initial_states(states, batch, x, lstm, sorted_indices)
        out, finals = self._run(x, bs, states, lstm)
        if packed:
            finals = [f.index_select(1, unsorted_indices) if unsorted_indices is not None else f
                      for f in finals]
            output = PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices)
        else:
            output = out
            if batched and self.batch_first:
                output = output.transpose(0, 1)
            if not batched:
                output = output.squeeze(1)
                finals = [f.squeeze(1) for f in finals]
        return (output, tuple(finals)) if lstm else (output, finals[0])

    def _check_hidden(self, hx, batched, lstm):
        """hx as a list of tensors (None: zeros), with PyTorch's messages for wrong ranks."""
        if hx is None:
            return None
        if lstm:
            hx = list(hx)  # (a lone tensor is read as its rows, as PyTorch does)
            if len(hx) != 2:
                raise RuntimeError("lstm expects two hidden states")
            want = 3 if batched else 2
            if hx[0].dim() != want or hx[1].dim() != want:
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got "
                                   f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
        else:
            hx = [hx]
            want = 3 if batched else 2
            if hx[0].dim() != want:
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got "
                                   f"{hx[0].dim()}-D tensor")
        return hx if batched else [h.unsqueeze(1) for h in hx]

    def _initial_states(self, states, batch, x, lstm, sorted_indices):
        if states is None:
            h = creation.zeros(*self._expected_hidden(batch), dtype=x.dtype)
            if not lstm:
                return [h]
            return [h, creation.zeros(*self._expected_hidden(batch, cell=True), dtype=x.dtype)]
        for k, s in enumerate(states):
            want = self._expected_hidden(batch, cell=k == 1)
            if tuple(s.shape) != want:
                label = f"hidden[{k}]" if lstm else "hidden"
                raise RuntimeError(f"Expected {label} size {want}, got {list(s.shape)}")
        if sorted_indices is not None:
            states = [s.index_select(1, sorted_indices) for s in states]
        return states

    def _run(self, x, bs, states, lstm):
        """All layers: the output (T, B, dirs*out) or packed data, and the stacked final states."""
        dirs = 2 if self.bidirectional else 1
        init_states = [S.unbind(s, 0) for s in states]
        finals = [[] for _ in states]
        names = iter(self._all_weights)
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                params = [getattr(self, n) for n in next(names)]
                o, ends = _direction(self.mode, x, bs, [s[k] for s in init_states], params, self.bias,
                                     self.proj_size, reverse=d == 1)
                outs.append(o)
                for f, e in zip(finals, ends, strict=True):
                    f.append(e)
            x = outs[0] if dirs == 1 else S.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, [S.stack(f, 0) for f in finals]


def _direction(mode, x, bs, states, params, bias, proj_size, reverse):  # noqa: C901 - one loop, packed and padded
    """Run one direction of one layer over ``x`` (T, B, in) or packed rows with batch sizes ``bs``.

    Returns the outputs (same layout as ``x``) and the final states (h, [c]) as (B, out).
    """
    w_ih, w_hh = params[0], params[1]
    b_ih, b_hh = (params[2], params[3]) if bias else (None, None)
    w_hr = params[-1] if proj_size else None
    step = _STEP[mode]
    lstm = mode == "LSTM"
    if b_hh is not None and mode != "GRU":               # (GRU's b_hn sits inside r * (...))
        b_ih, b_hh = b_ih + b_hh, None                    # both biases added once, not per step
    proj = F.linear(x, w_ih, b_ih)                       # the input's part of every gate, at once
    if bs is None and w_hr is None:                       # padded: the whole sequence as one node
        c0 = states[1] if lstm else None
        res = OR.Scan.apply(proj, states[0], c0, w_hh, b_hh, mode=mode, reverse=reverse)
        return res[0], tuple(res[1:])
    steps = S.unbind(proj, 0) if bs is None else S.split(proj, bs, 0)
    order = range(len(steps) - 1, -1, -1) if reverse else range(len(steps))
    h = states[0]
    c = states[1] if lstm else None
    full_h, full_c = h, c
    if bs is not None and reverse:                        # only the sequences that reach the end
        h = h[:bs[-1]]
        c = c[:bs[-1]] if lstm else None
    done_h, done_c = [], []
    outs = [None] * len(steps)
    for t in order:
        if bs is not None:
            n = bs[t]
            rows = h.shape[0]
            if n < rows:                                  # forward: these sequences have ended
                done_h.append(h[n:])
                h = h[:n]
                if lstm:
                    done_c.append(c[n:])
                    c = c[:n]
            elif n > rows:                                # reverse: these sequences start here
                h = S.cat([h, full_h[rows:n]], 0)
                if lstm:
                    c = S.cat([c, full_c[rows:n]], 0)
        if lstm:
            h, c = step.apply(steps[t], h, c, None, w_hh, None, b_hh)
            if w_hr is not None:
                h = F.linear(h, w_hr)
        else:
            h = step.apply(steps[t], h, None, w_hh, None, b_hh)
        outs[t] = h
    out = S.stack(outs, 0) if bs is None else S.cat(outs, 0)
    if done_h:
        h = S.cat([h] + done_h[::-1], 0)
        if lstm:
            c = S.cat([c] + done_c[::-1], 0)
    return out, ((h, c) if lstm else (h,))


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ReLU).

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)``; see :class:`RNNBase.forward`.

    >>> out, h = RNN(4, 8, 2)(tapegrad.zeros(5, 3, 4))
    >>> out.shape, h.shape
    (torch.Size([5, 3, 8]), torch.Size([2, 3, 8]))
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self_args = list(args)
            nonlinearity = self_args.pop(3)
            args = tuple(self_args)
            if "nonlinearity" in kwargs:
                raise TypeError("__init__() got multiple values for argument 'nonlinearity'")
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory, optionally with a projection of ``h`` to ``proj_size``.

    ``LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0)``; ``forward(input, (h0, c0))`` returns
    ``(output, (h_n, c_n))``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit; ``GRU(input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)``."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# ============================================================================ cells
class RNNCellBase(Module):
    """Parameters ``weight_ih`` (gates*hidden, in), ``weight_hh`` (gates*hidden, hidden) and the biases."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates = num_chunks * hidden_size
        self.weight_ih = _param((gates, input_size), dtype, device)
        self.weight_hh = _param((gates, hidden_size), dtype, device)
        self.register_parameter("bias_ih", _param((gates,), dtype, device) if bias else None)
        self.register_parameter("bias_hh", _param((gates,), dtype, device) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_reset(self)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"
        return s

    def _prepare(self, input, hx, labels):
        """(input, states, batched): 1-D input and states become a batch of one; None -> zeros."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if hx is not None:
            for label, s in zip(labels, hx, strict=True):
                if s.ndim not in (1, 2):
                    raise ValueError(f"{name}: Expected {label} to be 1D or 2D, got {s.ndim}D instead")
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            hx = [creation.zeros(input.shape[0], self.hidden_size, dtype=input.dtype) for _ in labels]
        elif not batched:
            hx = [s.unsqueeze(0) for s in hx]
        return input, list(hx), batched

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class RNNCell(RNNCellBase):
    """One Elman step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ReLU).

    input (B, in) or (in,), hx (B, hidden) or (hidden,) (default zeros) -> h' like hx.
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, None if hx is None else (hx,), ("hidden",))
        if self.nonlinearity == "tanh":
            out = OR.rnn_tanh_cell(x, h, *self._weights())
        elif self.nonlinearity == "relu":
            out = OR.rnn_relu_cell(x, h, *self._weights())
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return out if batched else out.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: input (B, in) or (in,), hx = (h, c) each (B, hidden) -> (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        x, (h, c), batched = self._prepare(input, hx, ("hx[0]", "hx[1]"))
        h2, c2 = OR.lstm_cell(x, (h, c), *self._weights())
        return (h2, c2) if batched else (h2.squeeze(0), c2.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step: input (B, in) or (in,), hx (B, hidden) or (hidden,) -> h'."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, None if hx is None else (hx,), ("hidden",))
        out = OR.gru_cell(x, h, *self._weights())
        return out if batched else out.squeeze(0)

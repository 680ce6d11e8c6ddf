"""Recurrent layers and cells: finite-difference checks in float64 and the graph they record.

Torch parity (values, gradients, messages, state_dicts) is in tests/parity/test_rnn_parity.py;
the op rows of the fused cells are in the op tables. Here: ``gradcheck`` (and
``gradgradcheck`` on small cases) of whole layers with respect to the input, the initial
states and every parameter, for each cell kind, packed and bidirectional; and checks that
a layer records one fused node per time step.
"""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import gradcheck, gradgradcheck
from tapegrad.func import functional_call
from tapegrad.nn.utils import rnn as R


def _as_function(module, n_inputs, run):
    """``f(*inputs, *params)`` calling ``run(module, *inputs)`` with the given parameter values."""
    names = [n for n, _ in module.named_parameters()]

    def f(*args):
        inputs, params = args[:n_inputs], args[n_inputs:]
        values = dict(zip(names, params, strict=True))
        return run(lambda *a: functional_call(module, values, a), *inputs)
    return f, [p.detach().clone().requires_grad_(True) for p in module.parameters()]


def _flat(out):
    o, hs = out
    if isinstance(o, R.PackedSequence):
        o = o.data
    return (o, *hs) if isinstance(hs, tuple) else (o, hs)


LAYERS = {
    "rnn_tanh_2layers": (lambda: tg.nn.RNN(2, 3, num_layers=2), 1),
    "rnn_relu_bidir": (lambda: tg.nn.RNN(2, 3, nonlinearity="relu", bidirectional=True), 1),
    "lstm_bidir": (lambda: tg.nn.LSTM(2, 3, bidirectional=True), 2),
    "lstm_proj_2layers": (lambda: tg.nn.LSTM(2, 3, num_layers=2, proj_size=2), 2),
    "gru_2layers_batch_first": (lambda: tg.nn.GRU(2, 3, num_layers=2, batch_first=True), 1),
    "gru_no_bias": (lambda: tg.nn.GRU(2, 3, bias=False), 1),
}


def _states(module, n_states, batch, rng):
    dirs = 2 if module.bidirectional else 1
    out = module.proj_size or module.hidden_size
    shapes = [(module.num_layers * dirs, batch, out), (module.num_layers * dirs, batch, module.hidden_size)]
    return [tg.tensor(rng.standard_normal(s) * 0.5, requires_grad=True) for s in shapes[:n_states]]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradcheck(name):
    make, n_states = LAYERS[name]
    module = make().double()
    rng = np.random.default_rng(len(name))
    x = tg.tensor(rng.standard_normal((2, 3, 2) if module.batch_first else (3, 2, 2)), requires_grad=True)
    states = _states(module, n_states, 2, rng)

    def run(call, x, *hs):
        return _flat(call(x, tuple(hs) if n_states == 2 else hs[0]))
    f, params = _as_function(module, 1 + n_states, run)
    assert gradcheck(f, (x, *states, *params))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_layer_gradcheck(kind, enforce_sorted):
    module = getattr(tg.nn, kind)(2, 2, bidirectional=True).double()
    rng = np.random.default_rng(3)
    lengths = [3, 2, 1] if enforce_sorted else [2, 3, 1]
    x = tg.tensor(rng.standard_normal((3, 3, 2)), requires_grad=True)

    def run(call, x):
        packed = R.pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
        return _flat(call(packed))
    f, params = _as_function(module, 1, run)
    assert gradcheck(f, (x, *params))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_layer_gradgradcheck(kind):
    module = getattr(tg.nn, kind)(2, 2).double()
    rng = np.random.default_rng(5)
    x = tg.tensor(rng.standard_normal((2, 2, 2)), requires_grad=True)

    def run(call, x):
        return _flat(call(x))
    f, params = _as_function(module, 1, run)
    assert gradgradcheck(f, (x, *params))


@pytest.mark.parametrize("cell", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_module_gradcheck_unbatched(cell):
    module = getattr(tg.nn, cell)(3, 2).double()
    x = tg.tensor(np.random.default_rng(1).standard_normal(3), requires_grad=True)

    def run(call, x):
        out = call(x)
        return out if isinstance(out, tuple) else (out,)
    f, params = _as_function(module, 1, run)
    assert gradcheck(f, (x, *params))
    assert gradgradcheck(f, (x, *params))


def _node_names(t):
    names, seen, stack = [], set(), [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names.append(node.name())
        stack.extend(f for f, _ in node.next_functions)
    return names


@pytest.mark.parametrize("kind,node", [("LSTM", "ThnnFusedLstmCellBackward0"),
                                       ("GRU", "ThnnFusedGruCellBackward0"),
                                       ("RNN", "RnnTanhCellBackward0")])
def test_fused_nodes_per_layer_and_step(kind, node):
    """Padded input: one node per layer and direction; packed: one fused node per step."""
    steps, layers = 7, 2
    module = getattr(tg.nn, kind)(3, 4, num_layers=layers, bidirectional=True)
    names = _node_names(module(tg.randn(steps, 2, 3))[0])
    assert names.count("RnnLayerBackward0") == layers * 2
    assert names.count(node) == 0
    packed = R.pack_sequence([tg.randn(steps, 3), tg.randn(steps - 2, 3)])
    names = _node_names(module(packed)[0].data)
    assert names.count(node) == steps * layers * 2
    # no per-step elementwise ops (sigmoid, tanh, mul) besides the fused nodes
    assert not set(names) & {"SigmoidBackward0", "TanhBackward0", "MulBackward0"}


def test_flatten_parameters_is_a_no_op_and_dtype_follows_module():
    m = tg.nn.LSTM(3, 4)
    before = [p.detach().clone() for p in m.parameters()]
    assert m.flatten_parameters() is None
    for a, b in zip(before, m.parameters(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
    m.double()
    out, (h, c) = m(tg.randn(2, 1, 3, dtype=tg.float64))
    assert out.dtype == h.dtype == c.dtype == tg.float64


def test_backward_twice_through_a_layer_accumulates():
    m = tg.nn.GRU(2, 3)
    x = tg.randn(4, 2, 2)
    m(x)[0].sum().backward()
    g1 = m.weight_hh_l0.grad.clone()
    m(x)[0].sum().backward()
    np.testing.assert_allclose(m.weight_hh_l0.grad.numpy(), 2 * g1.numpy(), rtol=1e-6)


def test_seq_lstm_benchmark_runs_and_reports_json(capsys):
    """bench/seq_lstm.py times one library per process and prints its median as JSON."""
    import json
    import os
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:  # bench/ lives at the repository root
        sys.path.insert(0, root)
    from bench import seq_lstm
    seq_lstm.main(["--lib", "tapegrad", "--rounds", "2", "--per-round", "1"])
    report = json.loads(capsys.readouterr().out)
    assert report["lib"] == "tapegrad" and report["median_ms"] > 0
    assert report["shape"] == {"seq": 35, "batch": 20, "input": 200, "hidden": 200, "layers": 2}


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_scan_node_with_recurrent_bias_gradcheck(reverse):
    """The layers fold ``b_hh`` into the projection; the Scan node also takes it on its own."""
    from tapegrad.ops.recurrent import Scan
    rng = np.random.default_rng(3)

    def t(*shape):
        return tg.tensor(rng.standard_normal(shape) * 0.5, requires_grad=True)
    proj, h0, c0, w_hh, b_hh = t(4, 2, 12), t(2, 3), t(2, 3), t(12, 3), t(12)
    assert gradcheck(lambda *a: Scan.apply(*a, mode="LSTM", reverse=reverse), (proj, h0, c0, w_hh, b_hh))


def test_lstm_layer_backward_twice_and_outputs_changed_in_place():
    m = tg.nn.LSTM(2, 3).double()
    x = tg.randn(5, 2, 2, dtype=tg.float64)
    out, (h, c) = m(x)
    loss = out.sum() + h.sum() + c.sum()
    loss.backward(retain_graph=True)
    g1 = m.weight_hh_l0.grad.clone()
    out.detach().mul_(0)   # the user's copy: the node keeps its own states
    h.detach().mul_(0)
    loss.backward()
    np.testing.assert_allclose(m.weight_hh_l0.grad.numpy(), 2 * g1.numpy(), rtol=1e-12)


def test_lstm_saturated_gates_stay_finite_without_warnings():
    import warnings
    m = tg.nn.LSTM(2, 3)
    with tg.no_grad():
        for p in m.parameters():
            p.fill_(50.0)
    x = tg.tensor([[[-1e3, 1e3]], [[1e3, -1e3]]], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, (h, c) = m(x)
        (out.sum() + c.sum()).backward()
    assert np.isfinite(out.detach().numpy()).all() and np.isfinite(x.grad.numpy()).all()

"""Recurrent layers, cells and ``nn.utils.rnn`` against PyTorch.

Each layer case builds the tapegrad module, copies its ``state_dict`` into the same torch
module through NumPy arrays, runs both on the same input and initial states, and compares
the output, the final states, and after one backward with the same random upstream
gradients the gradients of the input, of the initial states and of every parameter, in
float32 and float64. Also: ``state_dict`` round trips both ways, reprs, initialisation
bounds, dropout between layers, bad-input messages, and the packing utilities.
"""
from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402

TOL = {"float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-10, atol=1e-11)}


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t.detach().numpy()


def _close(ours, theirs, dt, what):
    assert tuple(ours.shape) == tuple(theirs.shape), \
        f"{what}: shape {tuple(ours.shape)} != {tuple(theirs.shape)}"
    assert str(ours.dtype) == str(theirs.dtype), f"{what}: dtype {ours.dtype} != {theirs.dtype}"
    np.testing.assert_allclose(_np(ours), _np(theirs), err_msg=what, **TOL[dt])


def _twin(lib_mod, kind, args, kw, dt):
    """The tapegrad module and a torch module with its weights (copied through NumPy)."""
    ours = getattr(tg.nn, kind)(*args, **kw, dtype=getattr(tg, dt))
    theirs = getattr(torch.nn, kind)(*args, **kw, dtype=getattr(torch, dt))
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    return ours, theirs


# =========================================================================== layers
LAYER_KINDS = {
    "rnn_tanh": ("RNN", {}), "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "lstm": ("LSTM", {}), "lstm_proj": ("LSTM", {"proj_size": 3}), "gru": ("GRU", {}),
}
CONFIGS = {
    "1layer": dict(kw={}, input="padded"),
    "2layers": dict(kw={"num_layers": 2}, input="padded"),
    "bidirectional": dict(kw={"bidirectional": True}, input="padded"),
    "2layers_bidir_batch_first": dict(kw={"num_layers": 2, "bidirectional": True, "batch_first": True},
                                      input="padded"),
    "no_bias": dict(kw={"bias": False, "num_layers": 2}, input="padded"),
    "unbatched": dict(kw={"num_layers": 2}, input="unbatched"),
    "unbatched_bidir": dict(kw={"bidirectional": True}, input="unbatched"),
    "packed_sorted": dict(kw={"num_layers": 2}, input="packed_sorted"),
    "packed_unsorted_bidir": dict(kw={"num_layers": 2, "bidirectional": True}, input="packed_unsorted"),
    "packed_unsorted_batch_first": dict(kw={"bidirectional": True, "batch_first": True},
                                        input="packed_unsorted"),
    "no_hx": dict(kw={"num_layers": 2, "bidirectional": True}, input="padded", hx=False),
}
IN, HID, T, BATCH = 4, 5, 6, 3
LENGTHS = {"packed_sorted": [6, 4, 2], "packed_unsorted": [3, 6, 3]}


def _inputs(lib, cfg, x, lengths, batch_first):
    if cfg["input"].startswith("packed"):
        xt = lib.tensor(x)
        xt.requires_grad_(True)
        return xt, lib.nn.utils.rnn.pack_padded_sequence(
            xt, lengths, batch_first=batch_first, enforce_sorted=cfg["input"] == "packed_sorted")
    xt = lib.tensor(x)
    xt.requires_grad_(True)
    return xt, xt


def _flat_out(lib, out):
    """The output tensor(s) and final states of a layer call, as a flat list."""
    o, hs = out
    if isinstance(o, lib.nn.utils.rnn.PackedSequence):
        o = o.data
    return [o] + (list(hs) if isinstance(hs, tuple) else [hs])


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("cfg_name", sorted(CONFIGS))
@pytest.mark.parametrize("kind_name", sorted(LAYER_KINDS))
def test_layer_matches_torch(kind_name, cfg_name, dt):
    kind, extra = LAYER_KINDS[kind_name]
    cfg = CONFIGS[cfg_name]
    kw = {**extra, **cfg["kw"]}
    ours, theirs = _twin(None, kind, (IN, HID), kw, dt)
    rng = _rng(kind_name, cfg_name, dt)
    batch_first = kw.get("batch_first", False)
    unbatched = cfg["input"] == "unbatched"
    # packed inputs start from a time-major padded array (transposed for batch_first)
    shape = (T, IN) if unbatched else ((BATCH, T, IN) if batch_first and not cfg["input"].startswith("packed")
                                        else (T, BATCH, IN))
    x = rng.standard_normal(shape).astype(dt)
    lengths = LENGTHS.get(cfg["input"])
    if lengths is not None and batch_first:
        x = np.ascontiguousarray(x.transpose(1, 0, 2))
    dirs = 2 if kw.get("bidirectional") else 1
    n_states = kw.get("num_layers", 1) * dirs
    out_size = kw.get("proj_size") or HID
    hshape = (n_states, out_size) if unbatched else (n_states, BATCH, out_size)
    cshape = (n_states, HID) if unbatched else (n_states, BATCH, HID)
    h0 = rng.standard_normal(hshape).astype(dt) * 0.5
    c0 = rng.standard_normal(cshape).astype(dt) * 0.5
    results = {}
    for lib, mod in ((tg, ours), (torch, theirs)):
        leaf, inp = _inputs(lib, cfg, x, lengths, batch_first)
        states = []
        if cfg.get("hx", True):
            states = [lib.tensor(h0).requires_grad_(True)]
            if kind == "LSTM":
                states.append(lib.tensor(c0).requires_grad_(True))
            out = mod(inp, tuple(states) if kind == "LSTM" else states[0])
        else:
            out = mod(inp)
        results[lib.__name__] = (leaf, states, out, mod)
    o_ours, o_theirs = _flat_out(tg, results["tapegrad"][2]), _flat_out(torch, results["torch"][2])
    assert len(o_ours) == len(o_theirs)
    for k, (a, b) in enumerate(zip(o_ours, o_theirs, strict=True)):
        _close(a, b, dt, f"output {k}")
    if cfg["input"].startswith("packed"):
        po, pt = results["tapegrad"][2][0], results["torch"][2][0]
        for f in ("batch_sizes", "sorted_indices", "unsorted_indices"):
            a, b = getattr(po, f), getattr(pt, f)
            assert (a is None) == (b is None), f
            if a is not None:
                np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f)
    seeds = [rng.standard_normal(tuple(t.shape)).astype(dt) for t in o_theirs]
    torch.autograd.backward(o_theirs, [torch.tensor(s) for s in seeds])
    tg.autograd.backward(o_ours, [tg.tensor(s) for s in seeds])
    (lo, so, _, mo), (lt, st, _, mt) = results["tapegrad"], results["torch"]
    _close(lo.grad, lt.grad, dt, "grad of input")
    for k, (a, b) in enumerate(zip(so, st, strict=True)):
        _close(a.grad, b.grad, dt, f"grad of state {k}")
    theirs_params = dict(mt.named_parameters())
    names = [n for n, _ in mo.named_parameters()]
    assert names == list(theirs_params)
    for n, p in mo.named_parameters():
        _close(p.grad, theirs_params[n].grad, dt, f"grad of {n}")


# =========================================================================== cells
CELLS = {"rnn_tanh": ("RNNCell", {}), "rnn_relu": ("RNNCell", {"nonlinearity": "relu"}),
         "lstm": ("LSTMCell", {}), "gru": ("GRUCell", {}), "gru_nobias": ("GRUCell", {"bias": False}),
         "lstm_nobias": ("LSTMCell", {"bias": False})}


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["batched", "unbatched", "no_hx"])
@pytest.mark.parametrize("cell_name", sorted(CELLS))
def test_cell_matches_torch(cell_name, mode, dt):
    kind, kw = CELLS[cell_name]
    ours, theirs = _twin(None, kind, (IN, HID), kw, dt)
    rng = _rng(cell_name, mode, dt)
    lead = () if mode == "unbatched" else (BATCH,)
    x = rng.standard_normal(lead + (IN,)).astype(dt)
    h = rng.standard_normal(lead + (HID,)).astype(dt)
    c = rng.standard_normal(lead + (HID,)).astype(dt)
    runs = []
    for lib, mod in ((tg, ours), (torch, theirs)):
        xi = lib.tensor(x).requires_grad_(True)
        states = [lib.tensor(h).requires_grad_(True), lib.tensor(c).requires_grad_(True)]
        if mode == "no_hx":
            states, out = [], mod(xi)
        elif kind == "LSTMCell":
            out = mod(xi, tuple(states))
        else:
            states = states[:1]
            out = mod(xi, states[0])
        outs = list(out) if isinstance(out, tuple) else [out]
        runs.append((xi, states, outs, mod))
    (xo, so, oo, mo), (xt, st, ot, mt) = runs
    for k, (a, b) in enumerate(zip(oo, ot, strict=True)):
        _close(a, b, dt, f"output {k}")
    seeds = [rng.standard_normal(tuple(t.shape)).astype(dt) for t in ot]
    torch.autograd.backward(ot, [torch.tensor(s) for s in seeds])
    tg.autograd.backward(oo, [tg.tensor(s) for s in seeds])
    _close(xo.grad, xt.grad, dt, "grad of input")
    for a, b in zip(so, st, strict=True):
        _close(a.grad, b.grad, dt, "grad of state")
    tp = dict(mt.named_parameters())
    assert [n for n, _ in mo.named_parameters()] == list(tp)
    for n, p in mo.named_parameters():
        _close(p.grad, tp[n].grad, dt, f"grad of {n}")


# =========================================================================== state_dict, repr, init
MODULES = [
    ("LSTM", (10, 20), {"num_layers": 2}),
    ("LSTM", (3, 5), {"num_layers": 2, "bidirectional": True, "proj_size": 2, "bias": False,
                      "batch_first": True, "dropout": 0.5}),
    ("GRU", (3, 5), {"bidirectional": True}),
    ("RNN", (3, 5), {"nonlinearity": "relu", "num_layers": 3}),
    ("RNN", (3, 5, 2, "relu"), {}),
    ("LSTMCell", (3, 4), {}), ("GRUCell", (3, 4), {"bias": False}),
    ("RNNCell", (3, 4), {"nonlinearity": "relu"}), ("RNNCell", (3, 4), {}),
]


@pytest.mark.parametrize("kind,args,kw", MODULES, ids=[f"{k}{a}{sorted(w.items())}" for k, a, w in MODULES])
def test_repr_names_shapes_and_state_dict_both_ways(kind, args, kw):
    ours = getattr(tg.nn, kind)(*args, **kw)
    theirs = getattr(torch.nn, kind)(*args, **kw)
    assert repr(ours) == repr(theirs)
    sd_o, sd_t = ours.state_dict(), theirs.state_dict()
    assert list(sd_o) == list(sd_t)
    for k in sd_o:
        assert tuple(sd_o[k].shape) == tuple(sd_t[k].shape), k
    # torch -> tapegrad
    ours.load_state_dict({k: tg.tensor(v.numpy()) for k, v in sd_t.items()})
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd_t[k].numpy())
    # tapegrad -> torch, after changing ours
    for p in ours.parameters():
        p.data.mul_(-2.0)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ours.state_dict()[k].numpy())
    for attr in ("input_size", "hidden_size", "bias", "num_layers", "batch_first", "dropout",
                 "bidirectional", "proj_size", "mode", "nonlinearity", "_flat_weights_names"):
        if hasattr(theirs, attr):
            assert getattr(ours, attr) == getattr(theirs, attr), attr


def test_all_weights_layout():
    ours, theirs = tg.nn.LSTM(3, 5, 2, bidirectional=True, proj_size=2), \
        torch.nn.LSTM(3, 5, 2, bidirectional=True, proj_size=2)
    assert [[tuple(p.shape) for p in ws] for ws in ours.all_weights] == \
        [[tuple(p.shape) for p in ws] for ws in theirs.all_weights]
    assert ours._all_weights == theirs._all_weights
    assert ours.flatten_parameters() is None


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"])
def test_initialisation_bounds(kind):
    """Every parameter ~ U(-1/sqrt(hidden), 1/sqrt(hidden)), as torch's: same bound, spread over it."""
    hidden = 16
    for lib in (tg, torch):
        lib.manual_seed(0)
        m = getattr(lib.nn, kind)(8, hidden)
        vals = np.concatenate([_np(p).ravel() for p in m.parameters()])
        bound = 1 / np.sqrt(hidden)
        assert np.abs(vals).max() <= bound
        assert np.abs(vals).max() > 0.95 * bound and abs(vals.mean()) < 0.05
        assert abs(vals.std() - bound / np.sqrt(3)) < 0.02


# =========================================================================== dropout between layers
def test_dropout_between_layers_train_vs_eval():
    for lib in (tg, torch):
        lib.manual_seed(0)
        m = lib.nn.LSTM(4, 6, num_layers=3, dropout=0.6)
        x = lib.tensor(np.random.default_rng(0).standard_normal((5, 2, 4)).astype(np.float32))
        m.eval()
        e1, e2 = m(x)[0], m(x)[0]
        assert tuple(e1.shape) == (5, 2, 6)
        np.testing.assert_array_equal(_np(e1), _np(e2))           # eval: deterministic
        m.train()
        t1, t2 = m(x)[0], m(x)[0]
        assert tuple(t1.shape) == (5, 2, 6)
        assert not np.allclose(_np(t1), _np(t2))                   # train: a fresh mask each call
        assert not np.allclose(_np(t1), _np(e1))
    # the last layer has no dropout: with one layer, train == eval
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = tg.nn.GRU(4, 6, dropout=0.9)
    x = tg.randn(3, 2, 4)
    np.testing.assert_array_equal(m(x)[0].detach().numpy(), m.eval()(x)[0].detach().numpy())


def test_dropout_warning_matches_torch():
    msgs = []
    for lib in (tg, torch):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            lib.nn.LSTM(3, 5, dropout=0.5)
        msgs.append([(type(x.message), str(x.message)) for x in w])
    assert msgs[0] == msgs[1] and msgs[0]


# =========================================================================== bad input
def _err(fn):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except Exception as e:  # noqa: BLE001
        return type(e), str(e)
    return None


BAD = {
    "lstm_4d": lambda L: L.nn.LSTM(3, 5, 2)(L.zeros(2, 3, 4, 3)),
    "lstm_1d": lambda L: L.nn.LSTM(3, 5)(L.zeros(3)),
    "rnn_4d": lambda L: L.nn.RNN(3, 5)(L.zeros(2, 3, 4, 3)),
    "gru_4d": lambda L: L.nn.GRU(3, 5)(L.zeros(2, 3, 4, 3)),
    "input_size": lambda L: L.nn.LSTM(3, 5)(L.zeros(2, 4, 4)),
    "input_size_unbatched": lambda L: L.nn.GRU(3, 5)(L.zeros(2, 4)),
    "lstm_h0_shape": lambda L: L.nn.LSTM(3, 5, 2)(L.zeros(2, 4, 3), (L.zeros(2, 3, 5), L.zeros(2, 4, 5))),
    "lstm_c0_shape": lambda L: L.nn.LSTM(3, 5, 2)(L.zeros(2, 4, 3), (L.zeros(2, 4, 5), L.zeros(1, 4, 5))),
    "lstm_proj_h0_shape": lambda L: L.nn.LSTM(3, 5, proj_size=2)(L.zeros(2, 4, 3),
                                                                  (L.zeros(1, 4, 5), L.zeros(1, 4, 5))),
    "lstm_unbatched_3d_hx": lambda L: L.nn.LSTM(3, 5)(L.zeros(2, 3), (L.zeros(1, 4, 5), L.zeros(1, 4, 5))),
    "lstm_batched_2d_hx": lambda L: L.nn.LSTM(3, 5)(L.zeros(2, 4, 3), (L.zeros(1, 5), L.zeros(1, 5))),
    "lstm_three_states": lambda L: L.nn.LSTM(3, 5)(L.zeros(2, 4, 3), (L.zeros(1, 4, 5),) * 3),
    "lstm_unbatched_h_size": lambda L: L.nn.LSTM(3, 5, 2)(L.zeros(2, 3), (L.zeros(2, 4), L.zeros(2, 5))),
    "gru_h0": lambda L: L.nn.GRU(3, 5, 2)(L.zeros(2, 4, 3), L.zeros(2, 3, 5)),
    "gru_unbatched_3d_h": lambda L: L.nn.GRU(3, 5)(L.zeros(2, 3), L.zeros(1, 4, 5)),
    "rnn_batched_2d_h": lambda L: L.nn.RNN(3, 5)(L.zeros(2, 4, 3), L.zeros(1, 5)),
    "dtype": lambda L: L.nn.LSTM(3, 5)(L.zeros(2, 4, 3, dtype=L.float64)),
    "int_input": lambda L: L.nn.GRU(3, 5)(L.zeros(2, 4, 3, dtype=L.int64)),
    "empty_sequence": lambda L: L.nn.LSTM(3, 5)(L.zeros(0, 2, 3)),
    "ctor_nonlinearity": lambda L: L.nn.RNN(3, 5, nonlinearity="sigmoid"),
    "ctor_proj_rnn": lambda L: L.nn.RNN(3, 5, proj_size=2),
    "ctor_proj_gru": lambda L: L.nn.GRU(3, 5, proj_size=2),
    "ctor_proj_neg": lambda L: L.nn.LSTM(3, 5, proj_size=-1),
    "ctor_proj_big": lambda L: L.nn.LSTM(3, 5, proj_size=5),
    "ctor_dropout": lambda L: L.nn.LSTM(3, 5, 2, dropout=1.5),
    "ctor_dropout_bool": lambda L: L.nn.LSTM(3, 5, 2, dropout=True),
    "ctor_hidden0": lambda L: L.nn.LSTM(3, 0),
    "ctor_input0": lambda L: L.nn.GRU(0, 0),
    "ctor_layers0": lambda L: L.nn.RNN(3, 5, 0),
    "ctor_hidden_float": lambda L: L.nn.LSTM(3, 5.0),
    "ctor_input_float": lambda L: L.nn.LSTM(3.0, "a"),
    "ctor_mode": lambda L: L.nn.RNNBase("FOO", 3, 5),
    "cell_3d": lambda L: L.nn.LSTMCell(3, 5)(L.zeros(2, 3, 3)),
    "cell_0d": lambda L: L.nn.GRUCell(3, 5)(L.tensor(1.0)),
    "rnncell_3d": lambda L: L.nn.RNNCell(3, 5)(L.zeros(2, 3, 3)),
    "cell_input_size": lambda L: L.nn.GRUCell(3, 5)(L.zeros(2, 4)),
    "cell_batch": lambda L: L.nn.RNNCell(3, 5)(L.zeros(2, 3), L.zeros(3, 5)),
    "cell_hidden_size": lambda L: L.nn.LSTMCell(3, 5)(L.zeros(2, 3), (L.zeros(2, 4), L.zeros(2, 4))),
    "cell_unbatched_2d_h": lambda L: L.nn.GRUCell(3, 5)(L.zeros(3), L.zeros(2, 5)),
    "cell_hx_3d": lambda L: L.nn.GRUCell(3, 5)(L.zeros(2, 3), L.zeros(1, 2, 5)),
    "lstmcell_c_3d": lambda L: L.nn.LSTMCell(3, 5)(L.zeros(2, 3), (L.zeros(2, 5), L.zeros(1, 2, 5))),
    "fn_lstm_cell_sizes": lambda L: L.lstm_cell(L.zeros(2, 3), (L.zeros(2, 5), L.zeros(2, 5)),
                                                L.zeros(20, 4), L.zeros(20, 5)),
    "fn_lstm_cell_one_state": lambda L: L.lstm_cell(L.zeros(2, 3), (L.zeros(2, 5),), L.zeros(20, 3),
                                                    L.zeros(20, 5)),
    "fn_gru_cell_1d": lambda L: L.gru_cell(L.zeros(3), L.zeros(5), L.zeros(15, 3), L.zeros(15, 5)),
    "fn_rnn_tanh_cell_sizes": lambda L: L.rnn_tanh_cell(L.zeros(2, 3), L.zeros(2, 5), L.zeros(5, 4),
                                                        L.zeros(5, 5)),
    "fn_rnn_relu_cell_batch": lambda L: L.rnn_relu_cell(L.zeros(2, 3), L.zeros(3, 5), L.zeros(5, 3),
                                                        L.zeros(5, 5)),
    "rnncell_nonlinearity_fwd": lambda L: (lambda c: (setattr(c, "nonlinearity", "x"), c(L.zeros(2, 3))))(
        L.nn.RNNCell(3, 5)),
    "pack_unsorted": lambda L: L.nn.utils.rnn.pack_padded_sequence(L.zeros(3, 3), [2, 3, 1]),
    "pack_zero_length": lambda L: L.nn.utils.rnn.pack_padded_sequence(L.zeros(3, 3), [3, 2, 0]),
    "pack_count": lambda L: L.nn.utils.rnn.pack_padded_sequence(L.zeros(3, 3), [3, 2]),
    "pad_total_length": lambda L: L.nn.utils.rnn.pad_packed_sequence(
        L.nn.utils.rnn.pack_sequence([L.zeros(3), L.zeros(1)]), total_length=2),
    "pad_sequence_side": lambda L: L.nn.utils.rnn.pad_sequence([L.zeros(2)], padding_side="middle"),
    "pad_sequence_empty": lambda L: L.nn.utils.rnn.pad_sequence([]),
    "pad_sequence_trailing": lambda L: L.nn.utils.rnn.pad_sequence([L.zeros(2, 3), L.zeros(2, 4)]),
    "packed_sequence_one_arg": lambda L: L.nn.utils.rnn.PackedSequence(L.zeros(3, 2)),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_matches_torch(name):
    theirs = _err(lambda: BAD[name](torch))
    assert theirs is not None, f"torch accepts {name}"
    ours = _err(lambda: BAD[name](tg))
    assert ours == theirs


# =========================================================================== nn.utils.rnn
def _seqs(lib, lengths, dt="float32", trailing=(2,), grad=True):
    rng = _rng("seqs", tuple(lengths), trailing)
    out = []
    for n in lengths:
        t = lib.tensor(rng.standard_normal((n, *trailing)).astype(dt))
        out.append(t.requires_grad_(grad))
    return out


def _both(fn, lengths, trailing=(2,)):
    """Run ``fn(lib, seqs)`` in both libraries; compare results and the sequences' gradients."""
    res = {}
    for lib in (tg, torch):
        seqs = _seqs(lib, lengths, trailing=trailing)
        out = fn(lib, seqs)
        packed = isinstance(out, lib.nn.utils.rnn.PackedSequence)
        flat = [out] if packed or not isinstance(out, (list, tuple)) else list(out)
        flat = [o.data if isinstance(o, lib.nn.utils.rnn.PackedSequence) else o for o in flat]
        res[lib.__name__] = (seqs, flat, out)
    (so, fo, oo), (st, ft, ot) = res["tapegrad"], res["torch"]
    assert len(fo) == len(ft)
    for a, b in zip(fo, ft, strict=True):
        _close(a, b, "float32", "result") if b.dtype.is_floating_point else \
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    floats = [(a, b) for a, b in zip(fo, ft, strict=True) if b.dtype.is_floating_point and b.requires_grad]
    rng = _rng("seed", tuple(lengths))
    seeds = [rng.standard_normal(tuple(b.shape)).astype(np.float32) for _, b in floats]
    torch.autograd.backward([b for _, b in floats], [torch.tensor(s) for s in seeds])
    tg.autograd.backward([a for a, _ in floats], [tg.tensor(s) for s in seeds])
    for a, b in zip(so, st, strict=True):
        _close(a.grad, b.grad, "float32", "grad")
    return oo, ot


def _R(lib):
    return lib.nn.utils.rnn


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence(batch_first, side):
    _both(lambda L, s: _R(L).pad_sequence(s, batch_first=batch_first, padding_value=-1.5, padding_side=side),
          [2, 4, 1], trailing=(2, 3))


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_sequence_and_back(enforce_sorted):
    lengths = [4, 3, 3, 1] if enforce_sorted else [2, 4, 1, 4]
    o, t = _both(lambda L, s: _R(L).pack_sequence(s, enforce_sorted=enforce_sorted), lengths)
    assert repr(o) == repr(t)
    _both(lambda L, s: list(_R(L).pad_packed_sequence(_R(L).pack_sequence(s, enforce_sorted=enforce_sorted))),
          lengths)
    _both(lambda L, s: _R(L).unpack_sequence(_R(L).pack_sequence(s, enforce_sorted=enforce_sorted)), lengths)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("total_length", [None, 7])
def test_pack_padded_and_pad_packed(batch_first, enforce_sorted, total_length):
    lengths = [5, 3, 2] if enforce_sorted else [2, 5, 3]

    def fn(L, s):
        padded = _R(L).pad_sequence(s, batch_first=batch_first)
        lens = L.tensor(lengths) if batch_first else lengths
        p = _R(L).pack_padded_sequence(padded, lens, batch_first=batch_first, enforce_sorted=enforce_sorted)
        out, n = _R(L).pad_packed_sequence(p, batch_first=batch_first, padding_value=0.25,
                                           total_length=total_length)
        return [p.data, p.batch_sizes, out, n]
    _both(fn, lengths, trailing=(3,))


def test_unpad_sequence_and_packed_sequence_api():
    _both(lambda L, s: _R(L).unpad_sequence(_R(L).pad_sequence(s), L.tensor([3, 1, 2])), [3, 1, 2])
    for lib in (tg, torch):
        p = _R(lib).pack_sequence([lib.ones(2, 3), lib.ones(1, 3)])
        assert p._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
        assert isinstance(p, tuple) and len(p) == 4
        assert str(p.double().data.dtype).endswith("float64") and p.to(lib.float64).data.dtype == lib.float64
        assert p.is_cuda is False
        q = _R(lib).PackedSequence(p.data, p.batch_sizes)
        assert q.sorted_indices is None and q.unsorted_indices is None
        r = _R(lib).PackedSequence(p.data, p.batch_sizes, lib.tensor([1, 0]))
        assert r.unsorted_indices.tolist() == [1, 0]
    assert repr(_R(tg).invert_permutation(tg.tensor([2, 0, 1]))) == \
        repr(_R(torch).invert_permutation(torch.tensor([2, 0, 1])))
    assert _R(tg).invert_permutation(None) is None

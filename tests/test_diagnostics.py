"""Diagnostics: explain(), anomaly mode, the graph-leak check. Each diagnosis is provoked
on purpose and its message checked."""
from __future__ import annotations

import inspect
import warnings

import pytest

import tapegrad as tg
from tapegrad.autograd import (GraphLeakWarning, detect_anomaly, detect_graph_leaks, explain,
                               grad_mode, set_detect_anomaly, set_graph_leak_check, track_origins)

HERE = __file__


def _line():
    """file:line of the caller (the line an explanation should name)."""
    f = inspect.currentframe().f_back
    return f"{HERE}:{f.f_lineno}"


@pytest.fixture(autouse=True)
def _no_observers_left():
    assert grad_mode.state.observers == ()
    yield
    assert grad_mode.state.observers == ()


# ------------------------------------------------------------------------------ explain
def test_explain_not_leaf_names_grad_fn_and_retain_grad():
    x = tg.tensor([1., 2.], requires_grad=True)
    h = x * 2
    loss = h.sum()
    loss.backward()
    e = explain(h, loss)
    assert e.cause == "not_leaf"
    assert "grad_fn=<MulBackward0>" in e and ".retain_grad()" in e and "not a leaf" in e


def test_explain_frozen():
    p = tg.nn.Parameter(tg.ones(2))
    p.requires_grad_(False)
    w = tg.ones(2, requires_grad=True)
    e = explain(p, (p * w).sum())
    assert e.cause == "frozen"
    assert "frozen: requires_grad=False" in e and "parameter" in e


def test_explain_cut_by_detach_names_line_without_tracking():
    a = tg.tensor([1., 2.], requires_grad=True)
    w = tg.ones(2, requires_grad=True)
    h = (a * 3).detach(); where = _line()  # noqa: E702
    loss = (h * w).sum()
    loss.backward()
    e = explain(a, loss)
    assert e.cause == "cut"
    assert "detach()" in e and where in e
    # the detached value itself
    e = explain(h)
    assert e.cause == "cut" and "detach()" in e and where in e


def test_explain_cut_by_data():
    a = tg.tensor([1., 2.], requires_grad=True)
    d = a.data; where = _line()  # noqa: E702
    loss = (d * tg.ones(2, requires_grad=True)).sum()
    e = explain(a, loss)
    assert e.cause == "cut" and ".data" in e and where in e


def test_explain_cut_by_no_grad_names_op_and_hints_tracking():
    a = tg.tensor([1., 2.], requires_grad=True)
    with tg.no_grad():
        h = a * 3
    loss = (h * tg.ones(2, requires_grad=True)).sum()
    e = explain(h)
    assert e.cause == "cut" and "Mul" in e and "no_grad" in e and "track_origins" in e
    e = explain(a, loss)
    assert e.cause == "cut" and "Mul" in e and "track_origins" in e


def test_explain_cut_by_no_grad_tracked_names_exact_line():
    a = tg.tensor([1., 2.], requires_grad=True)
    w = tg.ones(2, requires_grad=True)
    with track_origins():
        with tg.inference_mode():
            h = a.exp(); where = _line()  # noqa: E702
        loss = (h + w).sum()       # Add saves nothing: only tracking can link h to loss
    loss.backward()
    e = explain(a, loss)
    assert e.cause == "cut"
    assert "Exp run under inference_mode" in e and where in e


def test_explain_cut_by_no_grad_same_answer_after_backward():
    # backward frees what the nodes saved; the cut must still be found through them
    a = tg.tensor([1., 2.], requires_grad=True)
    w = tg.ones(2, requires_grad=True)
    with tg.no_grad():
        h = a * 3
    loss = (h * w).sum()
    before = explain(a, loss)
    loss.backward()
    after = explain(a, loss)
    assert before.cause == after.cause == "cut"
    assert "Mul" in after and str(after) == str(before)


@pytest.mark.parametrize("how", ["long", "argmax", "compare"])
def test_explain_cut_by_integer_results(how):
    a = tg.tensor([1., 2.], requires_grad=True)
    w = tg.ones(2, requires_grad=True)
    with track_origins():
        if how == "long":
            k = (a * 2).long(); where = _line()  # noqa: E702
            op = ".to(torch.int64)"
        elif how == "argmax":
            k = (a * 2).argmax(); where = _line()  # noqa: E702
            op = "argmax()"
        else:
            k = (a * 2) > 1; where = _line()  # noqa: E702
            op = "a comparison (gt)"
        loss = (w + k).sum()
    e = explain(a, loss)
    assert e.cause == "cut", e
    assert op in e and "integer" in e and where in e


def test_explain_unused():
    a = tg.tensor([1., 2.], requires_grad=True)
    unused = tg.tensor([3., 4.], requires_grad=True)
    loss = (a * 2).sum()
    loss.backward()
    e = explain(unused, loss)
    assert e.cause == "unused" and "not used by root" in e


def test_explain_zero_gradient_behind_relu():
    z = tg.tensor([-1., -2.], requires_grad=True)
    loss = (z.relu() * 3).sum()
    loss.backward()
    e = explain(z, loss)
    assert e.cause == "zero_grad"
    assert "all zeros" in e and "tensor([0., 0.])" in e and "ReluBackward0" in e


def test_explain_has_grad_and_pending():
    w = tg.tensor([1., 2.], requires_grad=True)
    loss = (w * w).sum()
    e = explain(w, loss)
    assert e.cause == "no_backward_yet" and "MulBackward0" in e
    loss.backward()
    e = explain(w, loss)
    assert e.cause == "has_grad" and "tensor([2., 4.])" in e
    # a retained non-leaf gradient counts as a gradient
    x = tg.tensor([1., 2.], requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * 2).sum().backward()
    e = explain(h)
    assert e.cause == "has_grad" and "retain_grad" in e
    print(e)   # printable


def test_track_origins_records_lines_and_leaves_no_observer_on_error():
    a = tg.tensor([1., 2.], requires_grad=True)
    with pytest.raises(ZeroDivisionError), track_origins():
        h = a * 2; where = _line()  # noqa: E702
        1 / 0
    assert h._origin == ("Mul", f"{where} in test_track_origins_records_lines_and_leaves_no_"
                                "observer_on_error")
    assert h.grad_fn._origin[1].startswith(where)


# ------------------------------------------------------------------------------ anomaly
def test_anomaly_warns_when_enabled_and_cleans_up():
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled. This mode will "
                      "increase the runtime and should only be enabled for debugging."):
        ctx = detect_anomaly()
    with ctx:
        assert tg.autograd.is_anomaly_enabled() and len(grad_mode.state.observers) == 1
    assert grad_mode.state.observers == () and not tg.autograd.is_anomaly_enabled()


def test_anomaly_off_installs_nothing():
    a = tg.ones(2, requires_grad=True)
    (a.log() * 2).sum().backward()
    assert grad_mode.state.observers == ()
    set_detect_anomaly(True)
    try:
        assert len(grad_mode.state.observers) == 1
    finally:
        set_detect_anomaly(False)
    assert grad_mode.state.observers == ()


def test_anomaly_forward_nan_names_op_line_and_input_stats():
    x = tg.tensor([-1., 1., 2.], requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly"):
        ctx = detect_anomaly()
    with pytest.raises(RuntimeError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # NumPy's "invalid value in log"
        with ctx:
            where = _line(); y = x.log()  # noqa: E702, F841
    msg = str(info.value)
    assert msg.startswith("Function 'Log' returned nan values in its 0th output")
    assert where in msg and "y = x.log()" in msg
    assert "input 0: shape [3], float32: min -1, max 2, mean 0.666667, nan 0, inf 0" in msg
    assert "Traceback of forward call that caused the error" in msg


def test_anomaly_backward_nan_names_node_and_forward_trace():
    x = tg.tensor([0., 1.], requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly"):
        ctx = detect_anomaly()
    with pytest.raises(RuntimeError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with ctx:
            s = x.sqrt(); where = _line()  # noqa: E702
            (s * 0).sum().backward()
    msg = str(info.value)
    first, rest = msg.split("\n", 1)
    assert first == "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert rest.startswith("Traceback of forward call that caused the error:")
    assert f'File "{HERE}", line {where.rsplit(":", 1)[1]}' in rest and "s = x.sqrt()" in rest


def test_anomaly_check_nan_false_and_decorator():
    with pytest.warns(UserWarning):
        deco = detect_anomaly(check_nan=False)

    @deco
    def f(x):
        return x.log()

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)   # no new warning per call
        warnings.simplefilter("ignore", RuntimeWarning)
        f(tg.tensor([-1.]))
    assert grad_mode.state.observers == ()


def test_anomaly_inf_in_backward_is_not_nan():
    # PyTorch checks backward outputs for NaN only: an infinite gradient passes
    x = tg.tensor([0., 1.], requires_grad=True)
    with pytest.warns(UserWarning), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with detect_anomaly():
            s = x.sqrt()
            s.sum().backward()
    assert x.grad[0].item() == float("inf")


# ------------------------------------------------------------------------------ leaks
def _step(w, x):
    loss = (w * x).sum()
    loss.backward()
    return loss


def test_leak_check_warns_for_accumulated_loss():
    w = tg.ones(3, requires_grad=True)
    x = tg.ones(3)
    total = 0
    with pytest.warns(GraphLeakWarning) as rec, detect_graph_leaks():
        for _ in range(3):
            loss = _step(w, x)
            total = total + loss; where = _line()  # noqa: E702
    assert len(rec) == 1
    msg = str(rec[0].message)
    assert where in msg and "loss.item()" in msg and "detach()" in msg
    assert rec[0].filename == HERE


def test_leak_check_silent_for_item():
    w = tg.ones(3, requires_grad=True)
    x = tg.ones(3)
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with detect_graph_leaks():
            for _ in range(8):
                loss = _step(w, x)
                total += loss.item()
    assert total == 24.0


def test_leak_check_growth_list_of_losses():
    w = tg.ones(3, requires_grad=True)
    x = tg.ones(3)
    losses = []
    with pytest.warns(GraphLeakWarning, match="grows at every step") as rec:
        set_graph_leak_check(True)
        try:
            for _ in range(7):
                loss = (w * x).sum(); where = _line()  # noqa: E702
                loss.backward()
                losses.append(loss)
        finally:
            set_graph_leak_check(False)
    assert where in str(rec[0].message)


def test_leak_check_off_after_exception():
    with pytest.raises(KeyError), detect_graph_leaks():
        assert tg.autograd.is_graph_leak_check_enabled()
        raise KeyError
    assert not tg.autograd.is_graph_leak_check_enabled()

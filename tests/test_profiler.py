"""tapegrad.profiler: counts, ranges, memory, table, Chrome trace, totals, observer cleanup.

Timing assertions are relative (the profiler's own wall time against a perf_counter
around the same block, on a block of tens of milliseconds), never absolute.
"""
from __future__ import annotations

import json
import os
import re
import time
import warnings

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.profiler as profiler
from tapegrad import nn
from tapegrad.autograd import grad_mode
from tapegrad.profiler import OTHER, profile, record_function


def _mlp(batch=4, width=16):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                          nn.Linear(width, 3))
    return model, tg.randn(batch, 8)


def _by_key(prof):
    return {a.key: a for a in prof.key_averages()}


# ------------------------------------------------------------------------------ counts
def test_mlp_counts_match_the_ops_run():
    model, x = _mlp()
    with profile() as prof:
        model(x).sum().backward()
    avg = _by_key(prof)
    # each Linear is t(weight) then addmm, as torch records it (its graph has TBackward0)
    expected = {"T": 3, "Addmm": 3, "Relu": 2, "Sum": 1,
                "TBackward0": 3, "AddmmBackward0": 3, "ReluBackward0": 2, "SumBackward0": 1}
    assert {k: a.count for k, a in avg.items()} == expected
    assert {a.kind for a in prof.key_averages()} == {"forward", "backward"}
    assert len(prof.events()) == sum(expected.values())


def test_counts_over_a_loop_and_elementwise_names():
    a = tg.randn(10, requires_grad=True)
    b = tg.randn(10, requires_grad=True)
    with profile() as prof:
        for _ in range(5):
            y = a * b + a
            y.sum().backward()
    avg = _by_key(prof)
    for name in ("Mul", "Add", "Sum", "MulBackward0", "AddBackward0", "SumBackward0"):
        assert avg[name].count == 5, name
    assert len(avg) == 6


def test_no_grad_ops_are_counted_and_backward_formulas_are_not_separate_ops():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with profile() as prof:
        with tg.no_grad():
            x * 2
        (gx,) = tg.autograd.grad((x ** 3).sum(), x, create_graph=True)
        gx.sum().backward()
    avg = _by_key(prof)
    # user ops only: the formulas run by PowBackward0 under create_graph are its own time
    fwd = {k: a.count for k, a in avg.items() if a.kind == "forward"}
    assert fwd == {"Mul": 1, "Pow": 1, "Sum": 2}
    # the second backward runs PowBackward0 once more: a node the first one recorded (3 * x**2)
    assert avg["PowBackward0"].count == 2
    assert avg["SumBackward0"].count == 2


def test_forward_and_backward_events_share_the_sequence_number():
    a = tg.randn(3, requires_grad=True)
    with profile() as prof:
        (a * a).sum().backward()
    evs = {(e.kind, e.name): e for e in prof.events()}
    assert evs[("forward", "Mul")].sequence_nr == evs[("backward", "MulBackward0")].sequence_nr >= 0


# ------------------------------------------------------------------------------ memory
def test_memory_is_the_bytes_of_outputs_and_returned_gradients():
    a = tg.randn(10, requires_grad=True)  # float32: 40 bytes
    b = tg.randn(10, requires_grad=True)
    with profile(profile_memory=True) as prof:
        (a * b).sum().backward()
    avg = _by_key(prof)
    assert avg["Mul"].cpu_memory_usage == 40
    assert avg["Mul"].self_cpu_memory_usage == 40
    assert avg["Sum"].cpu_memory_usage == 4
    assert avg["MulBackward0"].cpu_memory_usage == 80  # one gradient per input
    assert "CPU Mem" in prof.key_averages().table()

    with profile(profile_memory=False) as prof:
        (a * b).sum().backward()
    assert all(a.cpu_memory_usage == 0 for a in prof.key_averages())
    assert "CPU Mem" not in prof.key_averages().table()


# ------------------------------------------------------------------------------ ranges
def test_record_function_ranges_nest_and_own_their_ops():
    model, x = _mlp()
    with profile() as prof:
        with record_function("step"):
            with record_function("forward_pass"):
                loss = model(x).sum()
            with record_function("backward_pass"):
                loss.backward()
        x * 2  # outside every range
    evs = prof.events()
    ranges = {e.name: e for e in evs if e.kind == "user_annotation"}
    assert set(ranges) == {"step", "forward_pass", "backward_pass"}
    step, fp, bp = ranges["step"], ranges["forward_pass"], ranges["backward_pass"]
    assert step.cpu_parent is None
    assert fp.cpu_parent is step and bp.cpu_parent is step
    assert [c.name for c in step.cpu_children] == ["forward_pass", "backward_pass"]
    assert {c.kind for c in fp.cpu_children} == {"forward"} and len(fp.cpu_children) == 9
    assert {c.kind for c in bp.cpu_children} == {"backward"} and len(bp.cpu_children) == 9
    last = [e for e in evs if e.kind == "forward"][-1]
    assert last.name == "Mul" and last.cpu_parent is None
    for r in (fp, bp):  # children lie inside the parent's interval
        assert (step.time_range.start <= r.time_range.start <= r.time_range.end
                <= step.time_range.end)
        for c in r.cpu_children:
            assert r.time_range.start <= c.time_range.start <= c.time_range.end <= r.time_range.end
    # self = total - children
    kids = sum(c.cpu_time_total for c in fp.cpu_children)
    assert fp.self_cpu_time_total == pytest.approx(fp.cpu_time_total - kids, abs=1e-6)
    assert step.self_cpu_time_total == pytest.approx(
        step.cpu_time_total - fp.cpu_time_total - bp.cpu_time_total, abs=1e-6)
    # memory of a range: its ops'
    assert fp.cpu_memory_usage == sum(c.cpu_memory_usage for c in fp.cpu_children)
    assert step.cpu_memory_usage == fp.cpu_memory_usage + bp.cpu_memory_usage
    avg = _by_key(prof)
    assert avg["step"].count == 1 and avg["step"].is_user_annotation
    assert "forward_pass" in prof.key_averages().table()


def test_record_function_without_profile_and_as_decorator():
    with record_function("nothing"):  # no profile: a no-op
        tg.ones(2) * 2

    @record_function("helper")
    def helper(t, depth):
        return helper(t * 2, depth - 1) if depth else t

    with profile() as prof:
        helper(tg.ones(2), 2)
    helpers = [e for e in prof.events() if e.name == "helper"]
    assert len(helpers) == 3
    assert helpers[1].cpu_parent is helpers[0] and helpers[2].cpu_parent is helpers[1]
    assert _by_key(prof)["Mul"].count == 2


def test_ranges_still_open_at_stop_are_closed_there():
    prof = profile()
    prof.start()
    rf = record_function("dangling")
    rf.__enter__()
    tg.ones(2) + 1
    prof.stop()
    rf.__exit__(None, None, None)  # after stop: harmless
    (ev,) = [e for e in prof.events() if e.name == "dangling"]
    assert ev.time_range.end <= prof.wall_time_us + 1e-6
    assert ev.cpu_time_total >= ev.cpu_children[0].cpu_time_total


# ------------------------------------------------------------------------------ table
def _table_rows(table):
    lines = table.splitlines()
    seps = [i for i, ln in enumerate(lines) if ln.startswith("---")]
    return lines[seps[0] + 1], lines[seps[1] + 1:seps[2]], lines[seps[2] + 1:]


def _parse_time(s):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", s)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def test_table_has_torchs_columns_and_is_sorted_by_total_time():
    model, x = _mlp()
    with profile() as prof, record_function("step"):
        model(x).sum().backward()
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=100)
    header, rows, rest = _table_rows(table)
    for col in ("Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg",
                "CPU Mem", "# of Calls"):
        assert col in header
    names = [r.split()[0] for r in rows]
    assert names[0] == "step" and "AddmmBackward0" in names
    totals = [_parse_time(r.split()[4]) for r in rows]
    assert totals == sorted(totals, reverse=True)
    assert rest[0].strip().startswith(OTHER)
    assert any(ln.startswith("Self CPU time total: ") for ln in rest)
    # row_limit and the other sort keys
    assert len(_table_rows(prof.key_averages().table(row_limit=2))[1]) == 2
    calls = [int(r.split()[-1]) for r in _table_rows(prof.key_averages().table(sort_by="count"))[1]]
    assert calls == sorted(calls, reverse=True)
    with pytest.raises(ValueError, match="sort_by"):
        prof.key_averages().table(sort_by="cuda_time_total")
    assert "step" in prof.table()


def test_group_by_input_shape():
    lin1, lin2 = nn.Linear(4, 8), nn.Linear(8, 2)
    with profile(record_shapes=True) as prof:
        lin2(lin1(tg.randn(3, 4)))
    groups = prof.key_averages(group_by_input_shape=True)
    shapes = sorted(str(a.input_shapes) for a in groups if a.key == "Addmm")
    # torch's aten::addmm shapes: bias, input, weight.t() (its trailing scalars aside)
    assert shapes == ["[[2], [3, 8], [8, 2]]", "[[8], [3, 4], [4, 8]]"]
    assert "Input Shapes" in groups.table()
    with profile() as prof2:
        lin1(tg.randn(3, 4))
    with pytest.raises(RuntimeError, match="record_shapes"):
        prof2.key_averages(group_by_input_shape=True)


def test_with_stack_records_the_callers_frame():
    with profile(with_stack=True) as prof:
        tg.ones(2) * 3
    (ev,) = prof.events()
    assert ev.stack and os.path.basename(__file__) in ev.stack[0]
    assert "Source Location" in prof.key_averages(group_by_stack_n=1).table()


# ------------------------------------------------------------------------------ chrome trace
def test_export_chrome_trace_writes_sorted_valid_json_atomically(tmp_path):
    model, x = _mlp()
    with profile(record_shapes=True) as prof, record_function("step"):
        model(x).sum().backward()
    path = tmp_path / "trace.json"
    path.write_text("old")
    prof.export_chrome_trace(str(path))
    doc = json.loads(path.read_text())
    evs = doc["traceEvents"]
    assert len(evs) == len(prof.events()) == 19
    for e in evs:
        assert {"name", "ph", "ts", "dur", "pid", "tid", "cat", "args"} <= set(e)
        assert e["ph"] == "X" and e["dur"] >= 0
        assert e["cat"] in ("forward", "backward", "user_annotation")
    assert [e["ts"] for e in evs] == sorted(e["ts"] for e in evs)
    assert evs[0]["name"] == "step" and evs[0]["cat"] == "user_annotation"
    addmm = next(e for e in evs if e["name"] == "Addmm")
    assert addmm["args"]["Input Dims"] == [[16], [4, 8], [8, 16]]
    assert os.listdir(tmp_path) == ["trace.json"]  # no temporary file left behind
    # the same through the EventList API
    prof.key_averages().export_chrome_trace(str(tmp_path / "t2.json"))
    assert len(json.loads((tmp_path / "t2.json").read_text())["traceEvents"]) == 19


# ------------------------------------------------------------------------------ totals
def test_profiler_totals_add_up_to_the_measured_wall_time():
    model, x = _mlp(batch=64, width=128)
    t0 = time.perf_counter()
    with profile() as prof:
        for _ in range(10):
            with record_function("step"):
                model(x).sum().backward()
            time.sleep(0.002)  # Python outside every op and range: "other"
    wall_us = (time.perf_counter() - t0) * 1e6

    evs = prof.events()
    ops = sum(e.self_cpu_time_total for e in evs if e.kind != "user_annotation")
    ranges = sum(e.self_cpu_time_total for e in evs if e.kind == "user_annotation")
    total = ops + ranges + prof.other_time_us
    assert total == pytest.approx(prof.wall_time_us, rel=1e-9)
    assert abs(total - wall_us) <= 0.10 * wall_us
    assert ops <= wall_us and ops <= prof.wall_time_us
    assert prof.other_time_us >= 0.9 * 10 * 2000  # the sleeps
    # the table's percentages are of the wall time: self % (with "other") add up to 100
    table = prof.key_averages().table(row_limit=0)
    _, rows, rest = _table_rows(table)
    pcts = [float(r.split()[1].rstrip("%")) for r in rows] + [float(rest[0].split()[4].rstrip("%"))]
    assert sum(pcts) == pytest.approx(100.0, abs=0.1)
    assert prof.self_cpu_time_total == prof.wall_time_us


# ------------------------------------------------------------------------------ observers
def test_no_observer_is_left_installed_even_when_the_block_raises():
    assert grad_mode.state.observers == ()
    with profile():
        assert len(grad_mode.state.observers) == 1
    assert grad_mode.state.observers == ()
    with pytest.raises(ZeroDivisionError), profile(), record_function("boom"):
        tg.ones(2) * 2
        1 / 0
    assert grad_mode.state.observers == ()


def test_profile_off_installs_no_observer():
    assert grad_mode.state.observers == ()
    a = tg.randn(3, requires_grad=True)
    with record_function("free"):
        (a * 2).sum().backward()
    assert grad_mode.state.observers == ()


def test_profiler_and_anomaly_mode_together():
    a = tg.randn(3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anomaly mode may warn that it is enabled
        anomaly = tg.autograd.detect_anomaly()
    with anomaly:
        before = grad_mode.state.observers
        with profile() as prof:
            (a * 2).sum().backward()
        assert grad_mode.state.observers == before
    assert grad_mode.state.observers == ()
    assert _by_key(prof)["MulBackward0"].count == 1


def test_nested_profiles_both_record():
    with profile() as outer:
        tg.ones(2) + 1
        with profile() as inner:
            tg.ones(2) * 2
    assert grad_mode.state.observers == ()
    assert set(_by_key(outer)) == {"Add", "Mul"}
    assert set(_by_key(inner)) == {"Mul"}


# ------------------------------------------------------------------------------ API edges
def test_api_edges(tmp_path):
    with pytest.raises(NotImplementedError):
        profile(schedule=lambda step: None)
    with pytest.raises(NotImplementedError):
        profiler.schedule(wait=1, warmup=1, active=1)
    seen = []
    with profile(activities=[profiler.ProfilerActivity.CPU], on_trace_ready=seen.append) as prof:
        with pytest.raises(RuntimeError, match="not finished"):
            prof.events()
        with pytest.raises(RuntimeError, match="already running"):
            prof.start()
        tg.ones(1) + 1
    assert seen == [prof]
    with pytest.warns(UserWarning, match="CPU only"):
        profile(activities=[profiler.ProfilerActivity.CPU, profiler.ProfilerActivity.CUDA])
    handler = profiler.tensorboard_trace_handler(str(tmp_path / "tb"))
    with profile(on_trace_ready=handler):
        tg.ones(1) + 1
    (f,) = os.listdir(tmp_path / "tb")
    assert f.endswith(".pt.trace.json")
    a = prof.key_averages()[0]
    assert a.cpu_time == a.cpu_time_total / a.count
    assert np.isfinite(prof.key_averages().total_average().cpu_time_total)

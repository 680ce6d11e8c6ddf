"""tapegrad.viz: make_dot's DOT source against the recorded graph, and drawing without Graphviz.

The expected graph is built here by walking ``grad_fn.next_functions`` (PyTorch's
public introspection), independently of make_dot's own walk over ``_next``.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import struct
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.viz import Digraph, layout_graph, make_dot
from tapegrad.viz import render as R

SVG_NS = "{http://www.w3.org/2000/svg}"


# ---------------------------------------------------------------------------- helpers
_ATTR_RE = re.compile(r'\s*([A-Za-z_][A-Za-z_0-9]*)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')
_ID = r'("(?:[^"\\]|\\.)*"|[^\s\[\]"]+)'
_EDGE_RE = re.compile(rf"^{_ID} -> {_ID}(?: \[(.*)\])?$")
_NODE_RE = re.compile(rf"^{_ID}(?: \[(.*)\])?$")


def _unquote(s):
    if s.startswith('"'):
        return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), s[1:-1])
    return s


def _attrs(text):
    out = {}
    pos = 0
    text = text or ""
    while pos < len(text):
        m = _ATTR_RE.match(text, pos)
        if not m:
            break
        out[m.group(1)] = _unquote(m.group(2))
        pos = m.end()
    assert text[pos:].strip() == "", f"unparsed attributes: {text[pos:]!r}"
    return out


def parse_dot(source):
    """Nodes {id: attrs}, edges [(tail, head, attrs)], clusters {name: (attrs, [ids])}."""
    nodes, edges, clusters = {}, [], {}
    lines = [ln.strip() for ln in source.strip().splitlines()]
    assert lines[0] == "digraph {" and lines[-1] == "}"
    cluster = None
    for ln in lines[1:-1]:
        if ln.startswith(("graph [", "node [", "edge [")):
            continue
        m = re.match(rf"^subgraph {_ID} {{$", ln)
        if m:
            cluster = _unquote(m.group(1))
            clusters[cluster] = ({}, [])
            continue
        if ln == "}":
            cluster = None
            continue
        m = _EDGE_RE.match(ln)
        if m:
            edges.append((_unquote(m.group(1)), _unquote(m.group(2)), _attrs(m.group(3))))
            continue
        if cluster is not None and re.match(r"^[A-Za-z_]+=", ln):
            clusters[cluster][0].update(_attrs(ln))
            continue
        m = _NODE_RE.match(ln)
        assert m, f"unparsed DOT line: {ln!r}"
        nid = _unquote(m.group(1))
        nodes[nid] = _attrs(m.group(2))
        if cluster is not None:
            clusters[cluster][1].append(nid)
    return nodes, edges, clusters


def recorded_graph(outputs):
    """Expected (fn nodes {id: name}, leaves {id: tensor}, outputs {id}, edge multiset)."""
    fns, leaves, outs = {}, {}, set()
    edges = Counter()
    stack = []
    for v in outputs:
        outs.add(str(id(v)))
        if v.grad_fn is not None:
            edges[(str(id(v.grad_fn)), str(id(v)))] += 1
            stack.append(v.grad_fn)
    while stack:
        fn = stack.pop()
        if str(id(fn)) in fns:
            continue
        fns[str(id(fn))] = fn.name()
        for nxt, _nr in fn.next_functions:
            if nxt is None:
                continue
            if hasattr(nxt, "variable"):  # AccumulateGrad: drawn as the leaf tensor's box
                leaves[str(id(nxt.variable))] = nxt.variable
                edges[(str(id(nxt.variable)), str(id(fn)))] += 1
            else:
                edges[(str(id(nxt)), str(id(fn)))] += 1
                stack.append(nxt)
    return fns, leaves, outs, edges


def assert_matches_recorded(g, outputs, saved=False):
    nodes, edges, clusters = parse_dot(g.source)
    fns, leaves, outs, exp_edges = recorded_graph(outputs)
    in_clusters = {n for _, ids in clusters.values() for n in ids}
    graph_nodes = {k for k in nodes if k not in in_clusters and not k.startswith("s")}
    assert graph_nodes == set(fns) | set(leaves) | outs
    got = Counter((t, h) for t, h, a in edges if a.get("dir") != "none")
    assert got == exp_edges
    for k, name in fns.items():
        assert nodes[k]["label"].split("\n")[0] == name
    for k in outs:
        assert nodes[k]["fillcolor"] == "darkolivegreen1"
    saved_nodes = {k for k in nodes if k.startswith("s")}
    assert bool(saved_nodes) == saved
    return nodes, edges, clusters, leaves


def q_graph():
    a = tg.tensor([2.0, 3.0], requires_grad=True)
    b = tg.tensor([6.0, 4.0], requires_grad=True)
    return a, b, 3 * a ** 3 - b ** 2


def mlp(freeze=("2.bias",)):
    tg.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    params = dict(m.named_parameters())
    for name in freeze:
        params[name].requires_grad_(False)
    x = tg.randn(3, 4)
    return m, params, m(x).sum()


@pytest.fixture
def no_graphviz(monkeypatch):
    """Hide Graphviz: `dot` is not on PATH, whatever the machine has installed."""
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda cmd, *a, **k: None if cmd == "dot" else real(cmd, *a, **k))
    monkeypatch.setenv("PATH", "")
    assert R.find_dot() is None


def _seg_hits_box(p, q, box, shrink=1.0):
    """Does segment p-q pass through the interior of box (x, y, w, h)? (Liang-Barsky)"""
    x0, y0 = box[0] + shrink, box[1] + shrink
    x1, y1 = box[0] + box[2] - shrink, box[1] + box[3] - shrink
    if x1 <= x0 or y1 <= y0:
        return False
    dx, dy = q[0] - p[0], q[1] - p[1]
    t0, t1 = 0.0, 1.0
    for pk, qk in ((-dx, p[0] - x0), (dx, x1 - p[0]), (-dy, p[1] - y0), (dy, y1 - p[1])):
        if pk == 0:
            if qk < 0:
                return False
        else:
            r = qk / pk
            if pk < 0:
                t0 = max(t0, r)
            else:
                t1 = min(t1, r)
    return t0 < t1


def assert_clean_layout(g, lay=None):
    lay = lay or g.layout()
    assert set(lay.boxes) == set(g._nodes)
    assert lay.overlapping_boxes() == []
    for (x, y, w, h) in lay.boxes.values():
        assert x >= 0 and y >= 0 and x + w <= lay.width and y + h <= lay.height
    # text fits: every label line is narrower than its box at the renderer's font metrics
    for nid, attrs in g._nodes.items():
        a = dict(g.node_attr, **attrs)
        fpx, fam = R._font(a)
        lines = a.get("label", nid).split("\n")
        _, _, w, h = lay.boxes[nid]
        assert max(len(s) for s in lines) * R._char_w(fam) * fpx < w
        assert len(lines) * R.LINE_HEIGHT * fpx < h
    # edges run from their tail box to their head box and through no other box
    for (t, hd, _), pts in zip(g._edges, lay.routes, strict=True):
        assert len(pts) >= 2
        others = [b for k, b in lay.boxes.items() if k not in (t, hd)]
        for p, q in zip(pts, pts[1:], strict=False):
            for b in others:
                assert not _seg_hits_box(p, q, b), (t, hd, p, q, b)
    return lay


# ---------------------------------------------------------------------------- DOT source
def test_q_graph_source_is_the_recorded_dag():
    a, b, Q = q_graph()
    g = make_dot(Q, params={"a": a, "b": b})
    nodes, edges, clusters, leaves = assert_matches_recorded(g, [Q])
    assert set(leaves) == {str(id(a)), str(id(b))}
    assert nodes[str(id(a))]["label"] == "a\n(2,) float32"
    assert nodes[str(id(b))]["label"] == "b\n(2,) float32"
    assert nodes[str(id(a))]["fillcolor"] == "lightblue"
    assert sorted(n["label"] for k, n in nodes.items() if k not in leaves and k != str(id(Q))) == \
        ["MulBackward0", "PowBackward0", "PowBackward0", "SubBackward0"]
    assert clusters == {}
    assert str(g) == g.source and g.source.startswith("digraph {")
    assert isinstance(g, Digraph)


def test_leaves_without_params_have_shape_only():
    a, b, Q = q_graph()
    nodes, *_ = assert_matches_recorded(make_dot(Q), [Q])
    assert nodes[str(id(a))]["label"] == "(2,) float32"


def test_mlp_source_and_frozen_parameter():
    m, params, y = mlp(freeze=("2.bias",))
    g = make_dot(y, params=params)
    nodes, edges, clusters, leaves = assert_matches_recorded(g, [y])
    names = {"0.weight": "(8, 4)", "0.bias": "(8,)", "2.weight": "(2, 8)"}
    assert {nodes[k]["label"] for k in leaves} == {f"{n}\n{s} float32" for n, s in names.items()}
    assert all(nodes[k]["fillcolor"] == "lightblue" for k in leaves)
    # the frozen bias is no part of the autograd graph: drawn apart, greyed and dashed
    frozen = params["2.bias"]
    fid = str(id(frozen))
    assert fid not in leaves
    (cattrs, cnodes), = clusters.values()
    assert cnodes == [fid]
    assert cattrs["label"] == "frozen (no grad)" and "dashed" in cattrs["style"]
    assert nodes[fid]["label"] == "2.bias\n(2,) float32"
    assert "dashed" in nodes[fid]["style"] and nodes[fid]["fillcolor"] != "lightblue"
    assert not any(fid in (t, h) for t, h, _ in edges)


def test_multiple_outputs_shared_inputs_and_repeated_edges():
    x = tg.randn(3, 2, requires_grad=True)
    h = x * x                      # two edges from the same leaf
    p, q = h.split(1, dim=1)       # a multi-output node, consumed twice
    y = (p * 2 + q.exp()).sum()
    g = make_dot((y, h))
    nodes, edges, clusters, leaves = assert_matches_recorded(g, [y, h])
    assert Counter((t, hd) for t, hd, _ in edges)[(str(id(x)), str(id(h.grad_fn)))] == 2


def test_output_without_graph_and_bad_arguments():
    t = tg.ones(2, 3)
    nodes, edges, _ = parse_dot(make_dot(t).source)
    assert list(nodes) == [str(id(t))] and edges == []
    assert nodes[str(id(t))]["label"] == "(2, 3) float32"
    with pytest.raises(TypeError):
        make_dot([1.0, 2.0])
    with pytest.raises(TypeError):
        make_dot(t, params={"w": 3.0})


def test_show_saved_lists_saved_shapes_and_bytes():
    a, b, Q = q_graph()
    g = make_dot(Q, params={"a": a, "b": b}, show_saved=True)
    nodes, edges, clusters, leaves = assert_matches_recorded(g, [Q], saved=True)
    saved = {k: n for k, n in nodes.items() if k.startswith("s")}
    # each PowBackward0 keeps its input: one orange box per saved array, named after it
    assert sorted(n["label"] for n in saved.values()) == ["a\n(2,) float32\n8 B", "b\n(2,) float32\n8 B"]
    assert all(n["fillcolor"] == "orange" for n in saved.values())
    links = [(t, h) for t, h, at in edges if at.get("dir") == "none"]
    assert len(links) == 2 and all(
        t in saved and nodes[h]["label"].startswith("PowBackward0") for t, h in links
    )
    for _, h in links:
        assert nodes[h]["label"] == "PowBackward0\nsaved 8 B"
    assert "16 B in 2 arrays" in g.graph_attr["label"]

    m, params, y = mlp(freeze=())
    g = make_dot(y, params=params, show_saved=True)
    nodes, *_ = assert_matches_recorded(g, [y], saved=True)
    labels = [n["label"] for k, n in nodes.items() if k.startswith("s")]
    assert "input (no grad)\n(3, 4) float32\n48 B" in labels
    assert "output of ReluBackward0\n(3, 8) float32\n96 B" in labels
    # addmm saves weight.t() (as torch's AddmmBackward0 does): a view made by TBackward0
    assert "output of TBackward0\n(8, 2) float32\n64 B" in labels


def test_show_saved_after_backward_says_freed():
    a, b, Q = q_graph()
    Q.sum().backward()
    g = make_dot(Q, show_saved=True)
    nodes, *_ = parse_dot(g.source)
    pows = [n["label"] for n in nodes.values() if n.get("label", "").startswith("PowBackward0")]
    assert pows and all("freed" in lab for lab in pows)
    assert not any(k.startswith("s") for k in nodes)


def test_show_saved_custom_function():
    class Exp(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(x, y)
            return y

        @staticmethod
        def backward(ctx, g):
            return g * ctx.saved_tensors[1]

    x = tg.randn(4, 5, requires_grad=True)
    y = Exp.apply(x)
    g = make_dot(y, params={"x": x}, show_saved=True)
    nodes, *_ = assert_matches_recorded(g, [y], saved=True)
    labels = sorted(n["label"] for k, n in nodes.items() if k.startswith("s"))
    assert labels == ["output of ExpBackward\n(4, 5) float32\n80 B", "x\n(4, 5) float32\n80 B"]
    assert nodes[str(id(y.grad_fn))]["label"] == "ExpBackward\nsaved 160 B"


def test_show_attrs_and_truncation():
    x = tg.randn(2, 3, requires_grad=True)
    y = x.sum(dim=1, keepdim=True)
    nodes, *_ = parse_dot(make_dot(y, show_attrs=True).source)
    lab = nodes[str(id(y.grad_fn))]["label"].split("\n")
    assert lab[0] == y.grad_fn.name() and set(lab[1]) == {"-"}
    assert any(s.startswith("keepdim") and s.rstrip().endswith("True") for s in lab)
    nodes, *_ = parse_dot(make_dot(y, show_attrs=True, max_attr_chars=2).source)
    lab = nodes[str(id(y.grad_fn))]["label"]
    assert "Tr..." in lab and "True" not in lab


def test_save_writes_source(tmp_path):
    a, b, Q = q_graph()
    g = make_dot(Q)
    p = g.save(str(tmp_path / "q.gv"))
    assert pathlib.Path(p).read_text() == g.source
    assert g.render(str(tmp_path / "q"), format="dot") == str(tmp_path / "q.dot")


# ---------------------------------------------------------------------------- drawing
def test_render_svg_without_graphviz(no_graphviz, tmp_path):
    m, params, y = mlp(freeze=("2.bias",))
    g = make_dot(y, params=params, show_saved=True)
    path = g.render(str(tmp_path / "mlp"))
    assert path == str(tmp_path / "mlp.svg")
    root = ET.parse(path).getroot()
    assert root.tag == SVG_NS + "svg"
    assert float(root.get("width")) > 100 and float(root.get("height")) > 100
    groups = [e for e in root.iter(SVG_NS + "g") if e.get("class") == "node"]
    assert len(groups) == len(g._nodes)
    texts = []
    for grp in groups:
        assert grp.find(SVG_NS + "rect") is not None
        texts.append(" ".join(t.text for t in grp.iter(SVG_NS + "text")))
    fns, leaves, outs, exp_edges = recorded_graph([y])
    for name in set(fns.values()):
        assert any(name in t for t in texts)
    for name in ("0.weight", "0.bias", "2.weight", "2.bias", "frozen (no grad)"):
        assert name in ET.tostring(root, encoding="unicode")
    edges = [e for e in root.iter(SVG_NS + "g") if e.get("class") == "edge"]
    assert len(edges) == len(g._edges)
    # boxes where the layout put them, none overlapping
    lay = assert_clean_layout(g)
    for grp in groups:
        nid = grp.get("id")[len("node_"):]
        r = grp.find(SVG_NS + "rect")
        x, y0, w, h = lay.boxes[nid]
        assert abs(float(r.get("x")) - x) < 0.1 and abs(float(r.get("width")) - w) < 0.1
    # trainable leaves light blue, the frozen one grey and dashed
    fid = str(id(params["2.bias"]))
    frozen_rect = next(gr for gr in groups if gr.get("id") == "node_" + fid).find(SVG_NS + "rect")
    assert frozen_rect.get("stroke-dasharray") and frozen_rect.get("fill") == "#ebebeb"
    lid = str(id(params["0.weight"]))
    assert (
        next(gr for gr in groups if gr.get("id") == "node_" + lid).find(SVG_NS + "rect").get("fill")
        == "#add8e6"
    )
    # the notebook hook gives the same picture
    svg = g._repr_svg_()
    assert ET.fromstring(svg.split("?>", 1)[1]).tag == SVG_NS + "svg"


def test_layout_directions_and_edge_direction(no_graphviz):
    a, b, Q = q_graph()
    g = make_dot(Q, params={"a": a, "b": b})
    lay = assert_clean_layout(g)
    # top to bottom: every edge leaves its tail's bottom and enters its head's top
    for (t, h, _), pts in zip(g._edges, lay.routes, strict=True):
        bt, bh = lay.boxes[t], lay.boxes[h]
        assert abs(pts[0][1] - (bt[1] + bt[3])) < 1e-6 and abs(pts[-1][1] - bh[1]) < 1e-6
        assert bt[1] + bt[3] < bh[1]
    out = lay.boxes[str(id(Q))]
    assert out[1] == max(b_[1] for b_ in lay.boxes.values())  # the output at the bottom
    g.attr(rankdir="LR")
    lay = assert_clean_layout(g)
    for (t, h, _), _pts in zip(g._edges, lay.routes, strict=True):
        bt, bh = lay.boxes[t], lay.boxes[h]
        assert bt[0] + bt[2] < bh[0]


def test_layout_graph_handles_cycles_and_wide_layers():
    sizes = {i: (40 + 7 * (i % 5), 20 + 4 * (i % 3)) for i in range(60)}
    edges = [(i, i + 1) for i in range(59)] + [(i, (i * 7) % 60) for i in range(0, 60, 3)] + [(59, 0)]
    edges = [(t, h) for t, h in edges]
    lay = layout_graph(sizes, edges)
    assert lay.overlapping_boxes() == []
    assert all(len(r) >= 2 for r in lay.routes)


def test_render_png(no_graphviz, tmp_path):
    pytest.importorskip("matplotlib")
    a, b, Q = q_graph()
    g = make_dot(Q, params={"a": a, "b": b}, show_saved=True)
    path = g.render(str(tmp_path / "q.png"))
    assert path == str(tmp_path / "q.png")
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    lay = g.layout()
    assert abs(w - 2 * lay.width) < 4 and h > 2 * lay.height  # 2 px per layout px (+ title)
    assert 5_000 < len(data) < 5_000_000


def test_png_without_matplotlib_or_graphviz_says_how(no_graphviz, monkeypatch, tmp_path):
    for name in [k for k in sys.modules if k == "matplotlib" or k.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    a, b, Q = q_graph()
    with pytest.raises(ImportError, match="pip install matplotlib"):
        make_dot(Q).render(str(tmp_path / "q.png"))
    assert make_dot(Q).render(str(tmp_path / "q.svg")).endswith(".svg")  # SVG needs nothing


@pytest.mark.skipif(os.name == "nt", reason="uses a shell script as a fake dot")
def test_graphviz_is_used_when_on_path(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ncat > '{fake.parent / 'stdin.gv'}'\n"
                    "echo \"<svg xmlns='http://www.w3.org/2000/svg'><!-- fake $1 --></svg>\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent) + os.pathsep + os.environ.get("PATH", ""))
    a, b, Q = q_graph()
    g = make_dot(Q)
    out = pathlib.Path(g.render(str(tmp_path / "q.svg"))).read_text(encoding="utf-8")
    assert "fake -Tsvg" in out
    assert (fake.parent / "stdin.gv").read_text() == g.source
    # and the builtin renderer when asked
    assert "fake" not in g.pipe("svg", renderer="builtin").decode()


def test_resnet18_sized_graph(no_graphviz, tmp_path):
    try:
        from tapegrad.vision.models import resnet18
        model = resnet18()
        y = model(tg.randn(2, 3, 32, 32))
        params = dict(model.named_parameters())
    except Exception:  # pragma: no cover - the model zoo is broken: a synthetic graph instead
        tg.manual_seed(0)
        params = {f"w{i}": tg.randn(4, 4, requires_grad=True) for i in range(40)}
        y = tg.randn(2, 4, requires_grad=True)
        for i in range(40):
            z = (y @ params[f"w{i}"]).relu()
            y = y + z if i % 2 else z.tanh()
    t0 = time.perf_counter()
    g = make_dot(y, params=params)
    path = g.render(str(tmp_path / "big.svg"))
    elapsed = time.perf_counter() - t0
    assert elapsed < 10, elapsed
    # ResNet-18's graph as torch records it (batch norm parameters without views of their own)
    assert len(g._nodes) >= 120
    assert_matches_recorded(g, [y])
    lay = assert_clean_layout(g)
    root = ET.parse(path).getroot()
    assert len([e for e in root.iter(SVG_NS + "g") if e.get("class") == "node"]) == len(g._nodes)
    # readable: boxes at full size (no shrinking), the picture wider than a column of boxes
    assert min(b[3] for b in lay.boxes.values()) >= 20
    assert lay.width < 6000


def test_deep_graph_needs_no_recursion(no_graphviz):
    x = tg.randn(3, requires_grad=True)
    y = x
    for i in range(1500):
        y = y * 1.01 if i % 3 else y + x
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)
    try:
        g = make_dot(y)
        lay = g.layout()
        svg = g.pipe("svg")
    finally:
        sys.setrecursionlimit(limit)
    assert len(g._nodes) == 1502 and lay.overlapping_boxes() == []
    assert svg.startswith(b"<?xml")


def test_shared_weight_far_apart_routes_in_a_lane(no_graphviz):
    # a weight reused by every step of an unrolled loop: edges spanning the whole graph
    x = tg.randn(3, requires_grad=True)
    w = tg.randn(3, requires_grad=True)
    y = x
    for i in range(36):
        y = (y * w).tanh() if i % 3 else y + x
    g = make_dot(y, params={"x": x, "w": w})
    assert_matches_recorded(g, [y])
    lay = assert_clean_layout(g, g.layout(max_dummies=0))
    left = min(b[0] for b in lay.boxes.values())
    assert any(min(p[0] for p in r) < left for r in lay.routes)  # some edges took the side lane

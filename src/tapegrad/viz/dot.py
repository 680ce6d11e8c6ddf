"""``make_dot``: a picture of the autograd graph behind a tensor, as torchviz draws it.

>>> import tapegrad as torch
>>> from tapegrad.viz import make_dot
>>> a = torch.tensor([2., 3.], requires_grad=True)
>>> b = torch.tensor([6., 4.], requires_grad=True)
>>> g = make_dot(3 * a ** 3 - b ** 2, params={"a": a, "b": b})
>>> print(g.source)        # DOT text                                     # doctest: +SKIP
>>> g.render("q", format="svg")   # 'q.svg', with or without Graphviz      # doctest: +SKIP

The graph has one box per ``grad_fn`` node (labelled ``node.name()``), one light
blue box per leaf (a parameter's name from ``params``, its shape and dtype; the
leaf and its ``AccumulateGrad`` are one box), one green box per output tensor,
and one edge per recorded edge, pointing the way the forward ran. Parameters in
``params`` that are frozen (``requires_grad=False``) are not in the autograd
graph; they are drawn apart in a dashed grey "frozen (no grad)" frame.
``show_saved=True`` adds what each node keeps for backward as orange boxes.
"""
from __future__ import annotations

import os
import re
import subprocess
import warnings

from .. import backend as B
from ..tensor import Tensor
from ..autograd.graph import Node

__all__ = ["Digraph", "make_dot", "format_bytes"]

LEAF_COLOR = "lightblue"
OUTPUT_COLOR = "darkolivegreen1"
SAVED_COLOR = "orange"
FROZEN_CLUSTER = "cluster_frozen"
FROZEN_LABEL = "frozen (no grad)"
FROZEN_NODE = dict(style="filled,dashed", fillcolor="gray92", color="gray50", fontcolor="gray35")


# ---------------------------------------------------------------------------- DOT writing
_ID_RE = re.compile(r"^(?:[A-Za-z_][A-Za-z_0-9]*|-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?))$")
_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}


def quote(s) -> str:
    """A DOT ID: bare when it may be, else a double-quoted string (newlines as ``\\n``)."""
    s = str(s)
    if _ID_RE.match(s) and s.lower() not in _KEYWORDS:
        return s
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\r\n", "\n").replace("\n", "\\n")
    return f'"{s}"'


def _attr_list(attrs) -> str:
    if not attrs:
        return ""
    return " [" + " ".join(f"{quote(k)}={quote(v)}" for k, v in attrs.items() if v is not None) + "]"


class Digraph:
    """A directed graph: DOT ``source``, ``render`` to SVG/PNG, ``_repr_svg_`` for notebooks.

    The subset of ``graphviz.Digraph`` that torchviz code uses: ``node``, ``edge``,
    ``attr``, ``graph_attr``/``node_attr``/``edge_attr``, ``source``, ``save``,
    ``render``, ``pipe``. Rendering needs no Graphviz install (see :meth:`render`).
    """

    def __init__(self, name=None, comment=None, graph_attr=None, node_attr=None, edge_attr=None,
                 format="svg"):
        self.name = name
        self.comment = comment
        self.graph_attr = dict(graph_attr or {})
        self.node_attr = dict(node_attr or {})
        self.edge_attr = dict(edge_attr or {})
        self.format = format
        self._nodes = {}      # id -> attrs (label included), in first-seen order
        self._edges = []      # (tail, head, attrs)
        self._clusters = {}   # name -> {"attrs": {...}, "nodes": [ids]}
        self._body = []       # ("node", id) / ("edge", k) in call order (clusters excluded)

    # ------------------------------------------------------------------ building
    def node(self, name, label=None, _attributes=None, cluster=None, **attrs):
        name = str(name)
        a = dict(_attributes or {})
        a.update(attrs)
        if label is not None:
            a["label"] = str(label)
        if name in self._nodes:
            self._nodes[name].update(a)
        else:
            self._nodes[name] = {"label": a.pop("label")} if "label" in a else {}
            self._nodes[name].update(a)
            if cluster is None:
                self._body.append(("node", name))
            else:
                self._clusters[cluster]["nodes"].append(name)

    def edge(self, tail_name, head_name, label=None, _attributes=None, **attrs):
        a = dict(_attributes or {})
        a.update(attrs)
        if label is not None:
            a["label"] = str(label)
        self._edges.append((str(tail_name), str(head_name), a))
        self._body.append(("edge", len(self._edges) - 1))

    def attr(self, kw=None, _attributes=None, **attrs):
        a = dict(_attributes or {})
        a.update(attrs)
        target = {None: self.graph_attr, "graph": self.graph_attr, "node": self.node_attr,
                  "edge": self.edge_attr}[kw]
        target.update({k: str(v) for k, v in a.items()})

    def cluster(self, name, **attrs):
        """Start (or update) a cluster subgraph; add nodes to it with ``node(..., cluster=name)``.

        The builtin renderer draws a cluster as a framed grid beside the main graph.
        """
        if not name.startswith("cluster"):
            name = "cluster_" + name
        c = self._clusters.setdefault(name, {"attrs": {}, "nodes": []})
        c["attrs"].update({k: str(v) for k, v in attrs.items()})
        return name

    # ------------------------------------------------------------------ DOT text
    @property
    def body(self):
        """The statements of the graph body, one per line (as ``graphviz.Digraph.body``)."""
        lines = []
        for kind, key in self._body:
            if kind == "node":
                lines.append(f"\t{quote(key)}{_attr_list(self._nodes[key])}")
            else:
                t, h, a = self._edges[key]
                lines.append(f"\t{quote(t)} -> {quote(h)}{_attr_list(a)}")
        for cname, c in self._clusters.items():
            lines.append(f"\tsubgraph {quote(cname)} {{")
            for k, v in c["attrs"].items():
                lines.append(f"\t\t{quote(k)}={quote(v)}")
            for nid in c["nodes"]:
                lines.append(f"\t\t{quote(nid)}{_attr_list(self._nodes[nid])}")
            lines.append("\t}")
        return lines

    @property
    def source(self) -> str:
        out = []
        if self.comment:
            out.append(f"// {self.comment}")
        out.append(f"digraph {quote(self.name)} {{" if self.name else "digraph {")
        if self.graph_attr:
            out.append(f"\tgraph{_attr_list(self.graph_attr)}")
        if self.node_attr:
            out.append(f"\tnode{_attr_list(self.node_attr)}")
        if self.edge_attr:
            out.append(f"\tedge{_attr_list(self.edge_attr)}")
        out.extend(self.body)
        out.append("}")
        return "\n".join(out) + "\n"

    def __str__(self):
        return self.source

    def __repr__(self):
        return f"<tapegrad.viz.Digraph with {len(self._nodes)} nodes and {len(self._edges)} edges>"

    # ------------------------------------------------------------------ files
    def save(self, filename=None, directory=None) -> str:
        """Write the DOT source (default ``Digraph.gv``); returns the path."""
        path = _join(directory, filename or (f"{self.name}.gv" if self.name else "Digraph.gv"))
        _makedirs(path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.source)
        return path

    def layout(self, **kw):
        """The builtin layout (``tapegrad.viz.layout.Layout``): boxes and edge routes in pixels.

        Keywords go to :func:`tapegrad.viz.layout.layout_graph` (``node_sep``, ``rank_sep``...);
        ``graph_attr["rankdir"]`` (TB, BT, LR, RL) picks the direction.
        """
        from .render import builtin_layout
        return builtin_layout(self, **kw)

    def pipe(self, format=None, renderer="auto", dpi=None) -> bytes:
        """The picture as bytes (``format``: svg, png, pdf, or dot for the source).

        ``renderer``: ``"auto"`` uses Graphviz's ``dot`` when it is on PATH and the builtin
        layout otherwise; ``"graphviz"`` requires it; ``"builtin"`` never uses it.
        """
        from . import render as R
        fmt = (format or self.format or "svg").lower()
        if fmt in ("dot", "gv"):
            return self.source.encode("utf-8")
        if renderer not in ("auto", "graphviz", "builtin"):
            raise ValueError(f"renderer must be 'auto', 'graphviz' or 'builtin', got {renderer!r}")
        dot = R.find_dot() if renderer != "builtin" else None
        if renderer == "graphviz" and dot is None:
            raise RuntimeError("renderer='graphviz' but Graphviz's `dot` executable is not on PATH")
        if dot is not None:
            try:
                return R.graphviz_render(self.source, fmt, dot)
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                if renderer == "graphviz" or fmt not in ("svg", "png", "pdf"):
                    raise
                warnings.warn(f"Graphviz failed ({e}); drawing with the builtin layout instead",
                              RuntimeWarning, stacklevel=2)
        return R.builtin_render(self, fmt, dpi)

    def render(self, path=None, format=None, *, directory=None, renderer="auto", dpi=None) -> str:
        """Write the picture and return its path.

        ``format`` defaults to ``path``'s extension when it is one of svg/png/pdf/dot/gv,
        else to ``self.format`` (svg); the extension is appended when ``path`` lacks it
        (default path: ``Digraph.gv.<format>``, as the graphviz package names it). With
        Graphviz's ``dot`` on PATH it draws; without it the builtin layered layout is used:
        SVG in pure Python, PNG/PDF through matplotlib (an ImportError says how to get it).
        """
        exts = ("svg", "png", "pdf", "dot", "gv")
        if format is None and path is not None:
            ext = os.path.splitext(str(path))[1].lstrip(".").lower()
            format = ext if ext in exts else None
        fmt = (format or self.format or "svg").lower()
        if path is None:
            path = (f"{self.name}.gv" if self.name else "Digraph.gv")
        path = str(path)
        if not path.lower().endswith("." + fmt):
            path = path + "." + fmt
        path = _join(directory, path)
        data = self.pipe(fmt, renderer=renderer, dpi=dpi)
        _makedirs(path)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def _repr_svg_(self):
        return self.pipe("svg").decode("utf-8")


def _join(directory, filename):
    return os.path.join(str(directory), str(filename)) if directory else str(filename)


def _makedirs(path):
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)


# ---------------------------------------------------------------------------- make_dot
def format_bytes(n) -> str:
    n = int(n)
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024.0
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}"


def _shape_str(shape):
    return str(tuple(int(s) for s in shape))


def _tensor_desc(t):
    return f"{_shape_str(t._data.shape)} {t._data.dtype.name}"


def _truncate(s, n):
    s = str(s)
    return s if len(s) <= n else s[:n] + "..."


_PRIVATE_ATTRS = {"saved", "needs_input_grad", "n_out", "variable", "metadata"}


def _is_array(v):
    return B.is_array(v) or (hasattr(v, "shape") and hasattr(v, "nbytes") and hasattr(v, "dtype"))


def _saved_entries(node):
    """``(label, array, src)`` for each array a node keeps for backward; src is an input
    tensor, an output index, or None. Also ``(label, value, None)`` for other values, and
    whether the saved values were freed by a backward without retain_graph."""
    arrays, others = [], []
    saved = node.__dict__.get("saved")
    srcs = node.__dict__.get("_saved_src") or ()
    if saved is not None:
        stack = [(f"saved[{i}]", s, srcs[i] if i < len(srcs) else None) for i, s in enumerate(saved)]
        for lab, s, src in stack:
            if s is None:
                continue
            if isinstance(s, (tuple, list)) and any(_is_array(x) for x in s):
                for j, x in enumerate(s):
                    (arrays if _is_array(x) else others).append((f"{lab}[{j}]", x, None))
            elif _is_array(s):
                arrays.append((lab, s, src))
            else:
                others.append((lab, s, None))
    to_save = node.__dict__.get("_to_save")  # custom autograd.Function
    if to_save:
        for i, t in enumerate(to_save):
            lab = f"saved_tensors[{i}]"
            if isinstance(t, Tensor):
                arrays.append((lab, t._data, t))
            elif hasattr(t, "nr") and hasattr(t, "data"):  # a saved output
                arrays.append((lab, t.data, t.nr))
            elif t is not None:
                others.append((lab, t, None))
    # arrays kept as context attributes (ctx.invstd = ..., ctx.index = ...)
    for k, v in node.__dict__.items():
        if k.startswith("_") or k in _PRIVATE_ATTRS:
            continue
        if _is_array(v):
            arrays.append((k, v, None))
    freed = bool(node.__dict__.get("_released"))
    return arrays, others, freed


def _saved_role(fn, src, param_map):
    """What a saved array is, the same from every node that keeps it."""
    if isinstance(src, Tensor):
        if id(src) in param_map:
            return param_map[id(src)]
        producer = src._grad_fn  # not .grad_fn: that may re-record a stale view
        if producer is not None:
            nr = f" [{src._output_nr}]" if getattr(producer, "n_out", 1) > 1 else ""
            return f"output of {producer.name()}{nr}"
        return "leaf" if src.requires_grad else "input (no grad)"
    if isinstance(src, int):
        n_out = getattr(fn, "n_out", 1)
        return f"output of {fn.name()}" + (f" [{src}]" if n_out > 1 else "")
    return None


def _attr_lines(node, others, max_attr_chars):
    items = []
    for k, v in node.__dict__.items():
        if k.startswith("_") or k in _PRIVATE_ATTRS or _is_array(v):
            continue
        items.append((k, v))
    items.extend((lab, v) for lab, v, _ in others)
    if not items:
        return []
    width = max(len(k) for k, _ in items)
    lines = [f"{k.ljust(width)}: {_truncate(v if isinstance(v, str) else repr(v), max_attr_chars)}"
             for k, v in items]
    longest = max(len(s) for s in lines)
    return [s.ljust(longest) for s in lines]  # equal lengths: the colons line up when centred


# long: one walk over the graph with its node and edge styling inline, as torchviz users expect
def make_dot(var, params=None, show_attrs=False, show_saved=False,  # noqa: C901 - a branch per object kind
             max_attr_chars=50) -> Digraph:
    """Draw the autograd graph that produced ``var`` (a tensor, or a tuple/list of them).

    ``params``: ``{name: tensor}`` (e.g. ``dict(model.named_parameters())``) names the leaves;
    entries with ``requires_grad=False`` (frozen) are drawn apart, in a dashed grey frame.
    ``show_attrs``: list each node's non-array attributes (dims, scalars...), truncated to
    ``max_attr_chars``. ``show_saved``: draw each array a node keeps for backward as an orange
    box (shape, dtype, bytes) and put the node's saved total in its label.

    Node ids in the DOT source are ``str(id(obj))`` as in torchviz: the ``grad_fn`` node for
    op boxes, the leaf tensor for leaf boxes, the output tensor for output boxes; saved boxes
    are ``"s" + str(id(array))`` (one box per array, shared by the nodes that keep it).
    """
    if params is not None:
        params = dict(params)
        for k, v in params.items():
            if not isinstance(v, Tensor):
                raise TypeError(f"params[{k!r}] is a {type(v).__name__}, expected a Tensor")
        param_map = {id(v): k for k, v in params.items()}
    else:
        params = {}
        param_map = {}
    outputs = list(var) if isinstance(var, (tuple, list)) else [var]
    for v in outputs:
        if not isinstance(v, Tensor):
            raise TypeError(f"make_dot expects a Tensor or a tuple/list of Tensors, got {type(v).__name__}")

    node_attr = dict(style="filled", shape="box", align="left", fontsize="10", ranksep="0.1",
                     height="0.2", fontname="monospace")
    dot = Digraph(node_attr=node_attr, graph_attr=dict(size="12,12"))
    drawn = set()

    def leaf_label(t, name=None):
        name = name if name is not None else param_map.get(id(t), "")
        return (f"{name}\n" if name else "") + _tensor_desc(t)

    def add_leaf(t):
        key = str(id(t))
        if key in drawn:
            return key
        drawn.add(key)
        if t.requires_grad:
            dot.node(key, leaf_label(t), fillcolor=LEAF_COLOR)
        else:  # a leaf recorded while it required grad, frozen since
            dot.node(key, leaf_label(t), **FROZEN_NODE)
        return key

    saved_total = {}  # id(array) -> nbytes, over the whole graph

    def add_fn(root):  # noqa: C901 - the per-node cases of make_dot's walk
        stack = [root]
        while stack:
            fn = stack.pop()
            key = str(id(fn))
            if key in drawn:
                continue
            drawn.add(key)
            label = fn.name()
            extra = []
            if show_saved or show_attrs:
                arrays, others, freed = _saved_entries(fn)
            if show_saved:
                if freed:
                    extra.append("saved: freed by backward")
                elif arrays:
                    uniq = {id(a): a for _, a, _ in arrays}  # x * x keeps x twice
                    extra.append(f"saved {format_bytes(sum(int(a.nbytes) for a in uniq.values()))}")
            if show_attrs:
                lines = _attr_lines(fn, others, max_attr_chars)
                if lines:
                    sep = "-" * min(max(len(s) for s in lines + [label]), max_attr_chars)
                    extra = [sep] + lines + extra
            dot.node(key, "\n".join([label] + extra))
            if show_saved and not freed:
                linked = set()
                for lab, arr, src in arrays:
                    skey = "s" + str(id(arr))
                    if skey in linked:
                        continue
                    linked.add(skey)
                    if skey not in drawn:
                        drawn.add(skey)
                        saved_total[id(arr)] = int(arr.nbytes)
                        role = _saved_role(fn, src, param_map)
                        top = role or lab
                        dot.node(skey, f"{top}\n{_shape_str(arr.shape)} {arr.dtype.name}\n"
                                       f"{format_bytes(arr.nbytes)}", fillcolor=SAVED_COLOR)
                    dot.edge(skey, key, dir="none", style="dashed", color="orange3")
            nxt = fn.__dict__.get("_next")
            if nxt is None:
                nxt = [(None, 0) if f is None else (getattr(f, "variable", f), nr)
                       for f, nr in getattr(fn, "next_functions", ())]
            todo = []
            for e in nxt:
                if e is None or e[0] is None:
                    continue
                src = e[0]
                if isinstance(src, Node):
                    dot.edge(str(id(src)), key)
                    todo.append(src)
                else:  # a leaf tensor: its AccumulateGrad is merged into the leaf box
                    dot.edge(add_leaf(src), key)
            stack.extend(reversed(todo))

    for v in outputs:
        key = str(id(v))
        if key in drawn:
            continue
        drawn.add(key)
        dot.node(key, leaf_label(v), fillcolor=OUTPUT_COLOR)
        fn = v.grad_fn
        if fn is not None:
            add_fn(fn)
            dot.edge(str(id(fn)), key)

    frozen = [(k, p) for k, p in params.items() if not p.requires_grad and str(id(p)) not in drawn]
    if frozen:
        cname = dot.cluster(FROZEN_CLUSTER, label=FROZEN_LABEL, style="dashed,rounded",
                            color="gray50", fontcolor="gray35")
        for name, p in frozen:
            key = str(id(p))
            if key in drawn:  # the same tensor under two names
                continue
            drawn.add(key)
            dot.node(key, leaf_label(p, name), cluster=cname, **FROZEN_NODE)

    if show_saved and saved_total:
        dot.attr(label=f"saved for backward: {format_bytes(sum(saved_total.values()))} "
                       f"in {len(saved_total)} arrays", fontsize="10")
    _resize_graph(dot)
    return dot


def _resize_graph(dot, size_per_element=0.15, min_size=12):
    """Grow Graphviz's page size with the graph (torchviz's resize_graph)."""
    size = max(min_size, len(dot.body) * size_per_element)
    dot.graph_attr.update(size=f"{size},{size}")

"""Pictures of autograd graphs: ``make_dot`` (torchviz's API) with or without Graphviz.

``make_dot(y, params=dict(model.named_parameters()))`` returns a :class:`Digraph`:
its ``source`` is DOT text, ``render("graph.svg")`` draws it (Graphviz's ``dot`` when
it is on PATH, else a builtin layered layout: SVG in pure Python, PNG/PDF through
matplotlib), and notebooks show it inline through ``_repr_svg_``.
"""
from .dot import Digraph, make_dot, format_bytes
from .layout import Layout, layout_graph

__all__ = ["Digraph", "make_dot", "format_bytes", "Layout", "layout_graph"]

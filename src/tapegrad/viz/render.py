"""Drawing a :class:`~tapegrad.viz.dot.Digraph`: Graphviz when installed, else our own layout.

With Graphviz's ``dot`` on ``PATH`` the DOT source is handed to it. Without it the
graph is laid out by :mod:`tapegrad.viz.layout` and drawn here: SVG is written
directly (no dependency), PNG and PDF through matplotlib when it is installed.
Both go through one *scene* (a list of boxes, texts and polylines in pixel
coordinates), so the SVG and the PNG of a graph show the same picture.
"""
from __future__ import annotations

import io
import math
import shutil
import subprocess
from xml.sax.saxutils import escape as _xml_escape

from .layout import Layout, layout_graph

__all__ = ["measure_label", "build_scene", "scene_to_svg", "scene_to_image", "graphviz_render",
           "find_dot", "PT_TO_PX"]

PT_TO_PX = 4.0 / 3.0      # Graphviz font sizes are points; the builtin canvas is in CSS pixels
LINE_HEIGHT = 1.25        # text line pitch, in font sizes
MONO_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, Liberation Mono, Courier New, monospace"
SANS_FAMILY = "DejaVu Sans, Helvetica, Arial, sans-serif"

# X11 colour names Graphviz knows and CSS does not (the rest are passed through)
_COLORS = {
    "lightgrey": "#d3d3d3", "lightgray": "#d3d3d3", "lightblue": "#add8e6", "orange": "#ffa500",
    "darkolivegreen1": "#caff70", "darkolivegreen3": "#a2cd5a", "orange3": "#cd8500",
    "gray92": "#ebebeb", "grey92": "#ebebeb", "gray50": "#7f7f7f", "grey50": "#7f7f7f",
    "gray40": "#666666", "grey40": "#666666", "gray35": "#595959", "grey35": "#595959",
    "gray30": "#4d4d4d", "grey30": "#4d4d4d", "black": "#000000", "white": "#ffffff",
    "lightyellow": "#ffffe0", "lightpink": "#ffb6c1", "palegreen": "#98fb98",
}


def color(name, default="#000000"):
    if not name:
        return default
    name = str(name).strip()
    if name.lower() in ("none", "transparent", "invis"):
        return "none"
    return _COLORS.get(name.lower(), name)


def _family(fontname):
    f = (fontname or "").lower()
    if "mono" in f or "courier" in f or "consol" in f:
        return "mono"
    return "sans"


def _char_w(family):
    # average advance of a character in font sizes; generous so the text always fits
    return 0.62 if family == "mono" else 0.64


def label_lines(label):
    return str(label).split("\n") if label is not None else [""]


def measure_label(lines, font_px, family="mono", shape="box"):
    """Box size (w, h) in pixels that holds ``lines`` of text with padding."""
    longest = max((len(s) for s in lines), default=0)
    w = longest * _char_w(family) * font_px + 1.4 * font_px
    h = len(lines) * LINE_HEIGHT * font_px + 0.7 * font_px
    w = max(w, 2.2 * font_px)
    if shape in ("ellipse", "oval", "circle"):
        w, h = w * 1.35, h * 1.35
    return (math.ceil(w), math.ceil(h))


def _style_tokens(s):
    return {t.strip() for t in str(s or "").split(",") if t.strip()}


# ---------------------------------------------------------------------------- scene
class Scene:
    """What to draw: groups of primitives in pixel coordinates (y down)."""

    def __init__(self, width, height, background="#ffffff"):
        self.width = width
        self.height = height
        self.background = background
        #: list of (kind, id, title, [primitive dicts]); kind is "cluster", "edge" or "node"
        self.groups = []


def _node_style(attrs):
    style = _style_tokens(attrs.get("style"))
    shape = (attrs.get("shape") or "ellipse").lower()
    fill = "none"
    if "filled" in style:
        fill = color(attrs.get("fillcolor") or attrs.get("color") or "lightgrey")
    stroke = color(attrs.get("color"), "#000000")
    if shape in ("none", "plaintext", "plain"):
        stroke = "none"
    dash = "4,3" if "dashed" in style else "1,3" if "dotted" in style else None
    width = float(attrs.get("penwidth", 2.0 if "bold" in style else 1.0))
    return dict(shape=shape, fill=fill, stroke=stroke, dash=dash, width=width,
                rounded="rounded" in style, invisible="invis" in style,
                fontcolor=color(attrs.get("fontcolor"), "#000000"))


# long: one Graphviz attribute after another mapped to drawing primitives, read top to bottom
def build_scene(g, lay: Layout, sizes_font) -> Scene:  # noqa: C901 - one branch per attribute
    """Turn a laid-out :class:`Digraph` into drawing primitives."""
    gattr = g.graph_attr
    title = gattr.get("label")
    title_lines = label_lines(title) if title else []
    title_px = float(gattr.get("fontsize", 12)) * PT_TO_PX
    extra_h = (len(title_lines) * LINE_HEIGHT * title_px + title_px) if title_lines else 0.0
    title_w = max((len(s) for s in title_lines), default=0) * 0.64 * title_px + 32
    canvas_w = max(lay.width, title_w)
    scene = Scene(canvas_w, lay.height + extra_h, color(gattr.get("bgcolor"), "#ffffff"))

    # clusters (panels): dashed frames with a title
    for name, (x, y, w, h) in lay.panels.items():
        cattr = g._clusters[name]["attrs"]
        st = _style_tokens(cattr.get("style"))
        prims = [dict(t="rect", x=x, y=y, w=w, h=h, fill=color(cattr.get("fillcolor"), "none")
                      if "filled" in st else "none", stroke=color(cattr.get("color"), "#000000"),
                      dash="5,3" if "dashed" in st else "1,3" if "dotted" in st else None,
                      width=1.0, rx=4.0 if "rounded" in st or "dashed" in st else 0.0)]
        lab = cattr.get("label")
        if lab:
            fpx = float(cattr.get("fontsize", 10)) * PT_TO_PX
            prims.append(dict(t="text", x=x + w / 2, y=y + 6 + 0.9 * fpx, s=str(lab), size=fpx,
                              color=color(cattr.get("fontcolor"), "#000000"), family="sans",
                              anchor="middle"))
        scene.groups.append(("cluster", name, str(lab or name), prims))

    # edges below the nodes
    for k, (tail, head, attrs) in enumerate(g._edges):
        pts = lay.routes[k] if k < len(lay.routes) else None
        if not pts:
            continue
        a = dict(g.edge_attr)
        a.update(attrs)
        st = _style_tokens(a.get("style"))
        if "invis" in st:
            continue
        stroke = color(a.get("color"), "#333333")
        dash = "4,3" if "dashed" in st else "1,3" if "dotted" in st else None
        width = float(a.get("penwidth", 1.0))
        d = (a.get("dir") or "forward").lower()
        head_arrow = d in ("forward", "both") and (a.get("arrowhead") or "normal") != "none"
        tail_arrow = d in ("back", "both") and (a.get("arrowtail") or "normal") != "none"
        pts = list(pts)
        prims = []
        if head_arrow:
            pts, tri = _arrow(pts)
            prims.append(dict(t="polygon", pts=tri, fill=stroke, stroke=stroke, width=width))
        if tail_arrow:
            rev, tri = _arrow(pts[::-1])
            pts = rev[::-1]
            prims.append(dict(t="polygon", pts=tri, fill=stroke, stroke=stroke, width=width))
        prims.insert(0, dict(t="line", pts=pts, stroke=stroke, dash=dash, width=width))
        if a.get("label"):
            mx, my = _midpoint(pts)
            fpx = float(a.get("fontsize", 9)) * PT_TO_PX
            prims.append(dict(t="text", x=mx + 4, y=my + 0.35 * fpx, s=str(a["label"]), size=fpx,
                              color=color(a.get("fontcolor"), "#000000"), family="sans",
                              anchor="start"))
        scene.groups.append(("edge", f"{tail}->{head}", f"{tail}->{head}", prims))

    # nodes
    for nid, attrs in g._nodes.items():
        box = lay.boxes.get(nid)
        if box is None:
            continue
        a = dict(g.node_attr)
        a.update(attrs)
        st = _node_style(a)
        if st["invisible"]:
            continue
        x, y, w, h = box
        prims = []
        if st["shape"] in ("ellipse", "oval", "circle"):
            prims.append(dict(t="ellipse", cx=x + w / 2, cy=y + h / 2, rx=w / 2, ry=h / 2,
                              fill=st["fill"], stroke=st["stroke"], dash=st["dash"], width=st["width"]))
        else:
            prims.append(dict(t="rect", x=x, y=y, w=w, h=h, fill=st["fill"], stroke=st["stroke"],
                              dash=st["dash"], width=st["width"], rx=4.0 if st["rounded"] else 0.0))
        fpx, family = sizes_font(a)
        lines = label_lines(a.get("label", nid))
        cy = y + h / 2
        top = cy - len(lines) * LINE_HEIGHT * fpx / 2
        for j, line in enumerate(lines):
            if not line:
                continue
            base = top + (j + 0.5) * LINE_HEIGHT * fpx + 0.35 * fpx
            prims.append(dict(t="text", x=x + w / 2, y=base, s=line, size=fpx, color=st["fontcolor"],
                              family=family, anchor="middle"))
        scene.groups.append(("node", nid, lines[0] if lines else nid, prims))

    if title_lines:
        top = lay.height + 0.2 * title_px
        for j, line in enumerate(title_lines):
            base = top + (j + 0.5) * LINE_HEIGHT * title_px + 0.35 * title_px
            scene.groups.append(("label", f"label{j}", line, [dict(
                t="text", x=canvas_w / 2, y=base, s=line, size=title_px,
                color=color(gattr.get("fontcolor"), "#000000"), family="sans", anchor="middle")]))
    return scene


def _arrow(pts, length=9.0, half=3.6):
    """Shorten the polyline's last segment and return it with an arrowhead triangle at its end."""
    (x0, y0), (x1, y1) = pts[-2], pts[-1]
    dx, dy = x1 - x0, y1 - y0
    d = math.hypot(dx, dy)
    if d < 1e-9:
        return pts, [(x1, y1)] * 3
    ux, uy = dx / d, dy / d
    bx, by = x1 - ux * length, y1 - uy * length
    tri = [(x1, y1), (bx - uy * half, by + ux * half), (bx + uy * half, by - ux * half)]
    cut = min(length * 0.9, d * 0.9)
    out = pts[:-1] + [(x1 - ux * cut, y1 - uy * cut)]
    return out, tri


def _midpoint(pts):
    lens = [math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(pts, pts[1:], strict=False)]
    half = sum(lens) / 2
    for (a, b), length in zip(zip(pts, pts[1:], strict=False), lens, strict=True):
        if half <= length and length > 0:
            t = half / length
            return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
        half -= length
    return pts[len(pts) // 2]


# ---------------------------------------------------------------------------- SVG
def _f(v):
    return f"{v:.1f}".rstrip("0").rstrip(".") if abs(v - round(v)) > 1e-9 else str(int(round(v)))


def _attr(v):
    return _xml_escape(str(v), {'"': "&quot;"})


def scene_to_svg(scene: Scene) -> str:
    W, H = math.ceil(scene.width), math.ceil(scene.height)
    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">',
        '<g id="graph0" class="graph">',
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="{_attr(scene.background)}"/>',
    ]
    fams = {"mono": MONO_FAMILY, "sans": SANS_FAMILY}
    for kind, gid, title, prims in scene.groups:
        out.append(f'<g class="{kind}" id="{_attr(kind + "_" + str(gid))}">'
                   f'<title>{_xml_escape(str(title))}</title>')
        for p in prims:
            t = p["t"]
            if t == "rect":
                s = (f'<rect x="{_f(p["x"])}" y="{_f(p["y"])}" width="{_f(p["w"])}" '
                     f'height="{_f(p["h"])}" fill="{_attr(p["fill"])}" stroke="{_attr(p["stroke"])}"'
                     f' stroke-width="{_f(p["width"])}"')
                if p.get("rx"):
                    s += f' rx="{_f(p["rx"])}"'
                if p.get("dash"):
                    s += f' stroke-dasharray="{p["dash"]}"'
                out.append(s + "/>")
            elif t == "ellipse":
                s = (f'<ellipse cx="{_f(p["cx"])}" cy="{_f(p["cy"])}" rx="{_f(p["rx"])}" '
                     f'ry="{_f(p["ry"])}" fill="{_attr(p["fill"])}" stroke="{_attr(p["stroke"])}" '
                     f'stroke-width="{_f(p["width"])}"')
                if p.get("dash"):
                    s += f' stroke-dasharray="{p["dash"]}"'
                out.append(s + "/>")
            elif t == "line":
                pts = " ".join(f"{_f(x)},{_f(y)}" for x, y in p["pts"])
                s = (f'<polyline points="{pts}" fill="none" stroke="{_attr(p["stroke"])}" '
                     f'stroke-width="{_f(p["width"])}" stroke-linejoin="round"')
                if p.get("dash"):
                    s += f' stroke-dasharray="{p["dash"]}"'
                out.append(s + "/>")
            elif t == "polygon":
                pts = " ".join(f"{_f(x)},{_f(y)}" for x, y in p["pts"])
                out.append(f'<polygon points="{pts}" fill="{_attr(p["fill"])}" '
                           f'stroke="{_attr(p["stroke"])}" stroke-width="{_f(p["width"])}"/>')
            elif t == "text":
                out.append(f'<text x="{_f(p["x"])}" y="{_f(p["y"])}" text-anchor="{p["anchor"]}" '
                           f'font-family="{_attr(fams[p["family"]])}" font-size="{_f(p["size"])}" '
                           f'fill="{_attr(p["color"])}" xml:space="preserve">{_xml_escape(p["s"])}</text>')
        out.append("</g>")
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- matplotlib
_MPL_HINT = ("drawing {fmt} without Graphviz needs matplotlib: `pip install matplotlib` "
             "(or `pip install tapegrad[plot]`), or install Graphviz so that `dot` is on PATH; "
             "SVG output needs neither")


def _png_dpi(scene, dpi):
    """Scale so a layout pixel is 2 image pixels, shrunk for huge graphs (Agg caps at 2**16)."""
    if dpi is not None:
        return float(dpi)
    dpi = 144.0
    w, h = scene.width / 72.0, scene.height / 72.0
    dpi = min(dpi, 30000.0 / max(w, h, 1e-9), math.sqrt(24e6 / max(w * h, 1e-9)))
    return max(dpi, 24.0)


def scene_to_image(scene: Scene, fmt="png", dpi=None) -> bytes:
    """PNG/PDF bytes of the scene, drawn with matplotlib's object API (no pyplot state)."""
    try:
        from matplotlib.figure import Figure
        from matplotlib import patches
        from matplotlib.lines import Line2D
    except ImportError as e:
        raise ImportError(_MPL_HINT.format(fmt=fmt.upper())) from e

    # one layout pixel = one point (1/72 inch), so font sizes carry over unchanged
    fig = Figure(figsize=(scene.width / 72.0, scene.height / 72.0))
    fig.patch.set_facecolor(_mpl_color(scene.background) or "white")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, scene.width)
    ax.set_ylim(scene.height, 0)
    ax.set_axis_off()
    fams = {"mono": "monospace", "sans": "sans-serif"}
    z = 1
    for _kind, _gid, _title, prims in scene.groups:
        for p in prims:
            t = p["t"]
            z += 1
            if t in ("rect", "ellipse"):
                ls = (0, tuple(float(v) for v in p["dash"].split(","))) if p.get("dash") else "-"
                common = dict(facecolor=_mpl_color(p["fill"]) or "none",
                              edgecolor=_mpl_color(p["stroke"]) or "none", linewidth=p["width"],
                              linestyle=ls, zorder=z)
                if t == "rect" and p.get("rx"):
                    patch = patches.FancyBboxPatch((p["x"], p["y"]), p["w"], p["h"],
                                                   boxstyle=f"round,pad=0,rounding_size={p['rx']}",
                                                   **common)
                elif t == "rect":
                    patch = patches.Rectangle((p["x"], p["y"]), p["w"], p["h"], **common)
                else:
                    patch = patches.Ellipse((p["cx"], p["cy"]), 2 * p["rx"], 2 * p["ry"], **common)
                ax.add_patch(patch)
            elif t == "line":
                xs = [q[0] for q in p["pts"]]
                ys = [q[1] for q in p["pts"]]
                ls = (0, tuple(float(v) for v in p["dash"].split(","))) if p.get("dash") else "-"
                ax.add_line(Line2D(xs, ys, color=_mpl_color(p["stroke"]), linewidth=p["width"],
                                   linestyle=ls, solid_joinstyle="round", zorder=z))
            elif t == "polygon":
                ax.add_patch(patches.Polygon(p["pts"], closed=True, facecolor=_mpl_color(p["fill"]),
                                             edgecolor=_mpl_color(p["stroke"]), linewidth=p["width"],
                                             zorder=z))
            elif t == "text":
                ax.text(p["x"], p["y"], p["s"], fontsize=p["size"], family=fams[p["family"]],
                        color=_mpl_color(p["color"]), ha={"middle": "center"}.get(p["anchor"], "left"),
                        va="baseline", zorder=z)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=_png_dpi(scene, dpi), facecolor=fig.get_facecolor())
    return buf.getvalue()


def _mpl_color(c):
    if c is None or c == "none":
        return None
    return c


# ---------------------------------------------------------------------------- Graphviz
def find_dot():
    """Path of Graphviz's ``dot`` executable, or None (looked up on each call)."""
    return shutil.which("dot")


def graphviz_render(source: str, fmt: str, dot_path: str) -> bytes:
    proc = subprocess.run([dot_path, f"-T{fmt}"], input=source.encode("utf-8"),
                          capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"Graphviz dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def builtin_layout(g, **kw) -> Layout:
    """Lay out a Digraph with :func:`layout_graph` (sizes from its labels and fonts)."""
    sizes = {}
    for nid, attrs in g._nodes.items():
        a = dict(g.node_attr)
        a.update(attrs)
        fpx, family = _font(a)
        sizes[nid] = measure_label(label_lines(a.get("label", nid)), fpx, family,
                                   (a.get("shape") or "ellipse").lower())
    panels = {name: (c["attrs"].get("label", ""), list(c["nodes"])) for name, c in g._clusters.items()}
    edges = [(t, h) for t, h, _ in g._edges]
    rankdir = g.graph_attr.get("rankdir", "TB")
    return layout_graph(sizes, edges, panels, rankdir=rankdir, **kw)


def _font(a):
    return float(a.get("fontsize", 14)) * PT_TO_PX, _family(a.get("fontname", "Times"))


def builtin_render(g, fmt: str, dpi=None) -> bytes:
    lay = builtin_layout(g)
    scene = build_scene(g, lay, _font)
    if fmt == "svg":
        return scene_to_svg(scene).encode("utf-8")
    if fmt in ("png", "pdf"):
        return scene_to_image(scene, fmt, dpi)
    raise ValueError(f"format {fmt!r} needs Graphviz (`dot` on PATH); without it the builtin "
                     "renderer writes svg, png and pdf")

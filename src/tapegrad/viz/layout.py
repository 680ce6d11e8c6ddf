"""A small layered (Sugiyama-style) graph layout in pure Python, for drawing without Graphviz.

Steps, all iterative (no recursion, so graphs thousands of nodes deep are fine):

1. break cycles (reverse the back edges an iterative DFS finds), so the rest sees a DAG;
2. layer by longest path *from the sinks*: a sink (the output) sits in the last layer and
   every other node as close to its consumers as it can, so a parameter is drawn right
   above the op that uses it;
3. split edges that span several layers with dummy nodes, one per crossed layer: they
   reserve a lane, so an edge never runs through a box;
4. order each layer by the barycenter of its neighbours, sweeping down and up, and keep
   the ordering with the fewest crossings;
5. place nodes across each layer as close to their neighbours as the order and the
   spacing allow (weighted isotonic regression, solved exactly by pool-adjacent-violators),
   sweeping a few times; long edges weigh more, so they come out straight;
6. route each edge as a polyline: vertical inside a layer's band (at its own port, or in
   its dummy's lane) and diagonal only in the empty gaps between bands.

Nodes listed in a *panel* (e.g. frozen parameters, which have no edges) are laid out as a
grid in a framed box to the right of the graph.

Coordinates are in pixels, origin at the top left, boxes given as ``(x, y, w, h)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Layout", "layout_graph"]


@dataclass
class Layout:
    """Result of :func:`layout_graph`."""

    width: float
    height: float
    #: node id -> (x, y, w, h), top-left corner and size
    boxes: dict = field(default_factory=dict)
    #: one polyline per input edge (same order), a list of (x, y) from tail to head
    routes: list = field(default_factory=list)
    #: panel name -> (x, y, w, h) of its frame
    panels: dict = field(default_factory=dict)
    #: node id -> layer index (0 = first layer); panel nodes are absent
    layer_of: dict = field(default_factory=dict)
    #: number of edge crossings of the chosen ordering (between adjacent layers)
    crossings: int = 0

    def overlapping_boxes(self, pad: float = 0.0):
        """Pairs of node ids whose boxes (grown by ``pad``) intersect; empty for a good layout."""
        items = sorted(self.boxes.items(), key=lambda kv: kv[1][0])
        out = []
        active = []  # sweep over x
        for nid, (x, y, w, h) in items:
            active = [a for a in active if a[1][0] + a[1][2] + pad > x - pad]
            for oid, (ox, oy, ow, oh) in active:
                if oy < y + h + pad and y < oy + oh + pad and ox < x + w + pad and x < ox + ow + pad:
                    out.append((oid, nid))
            active.append((nid, (x, y, w, h)))
        return out


def layout_graph(sizes, edges, panels=None, *, rankdir="TB", node_sep=18.0, rank_sep=42.0,
                 margin=16.0, order_sweeps=24, place_sweeps=10, dummy_width=6.0,
                 max_dummies=1000) -> Layout:
    """Lay out a directed graph.

    ``sizes``: ``{node_id: (width, height)}`` (insertion order is the initial order);
    ``edges``: a list of ``(tail, head)`` ids (parallel edges and unknown-free ids expected);
    ``panels``: ``{name: (title, [node ids])}`` drawn as framed grids beside the graph;
    ``rankdir``: ``"TB"`` (default), ``"BT"``, ``"LR"`` or ``"RL"`` as in Graphviz.

    Example::

        >>> lay = layout_graph({"x": (40, 20), "y": (40, 20)}, [("x", "y")])
        >>> lay.layer_of
        {'x': 0, 'y': 1}
    """
    rankdir = (rankdir or "TB").upper()
    horiz = rankdir in ("LR", "RL")
    flip = rankdir in ("BT", "RL")
    panels = panels or {}
    in_panel = {n for _, ids in panels.values() for n in ids}
    main = [n for n in sizes if n not in in_panel]
    n = len(main)

    # sizes across the layer direction ("a") and along it ("b")
    across = [0.0] * n
    along = [0.0] * n
    for i, nid in enumerate(main):
        w, h = sizes[nid]
        across[i], along[i] = (h, w) if horiz else (w, h)

    dag = _acyclic(main, edges)
    layer, n_layers, indeg = _layering(n, dag)
    g = _with_dummies(n, dag, layer, across, indeg, dummy_width, max(max_dummies, 4 * n))
    layers, crossings = _order(g, n_layers, order_sweeps)
    x = _place(g, layers, n_layers, node_sep, place_sweeps)

    bands = _bands(layer, along, n_layers, rank_sep)
    total_along = bands.length
    min_a = min((x[v] - g.across[v] / 2 for v in range(len(x))), default=0.0)
    # boxes in abstract (a, b) coordinates: a across, b along
    abox = {}
    for v in range(n):
        lay = layer[v]
        b0 = bands.start[lay] + (bands.thick[lay] - along[v]) / 2
        abox[v] = (x[v] - across[v] / 2 - min_a, b0, across[v], along[v])
    aroutes = _route(g, dag, layer, x, min_a, across, abox, bands)

    width_a = max((bx + bw for bx, _, bw, _ in abox.values()), default=0.0)
    width_a = max(width_a, max((x[v] + g.across[v] / 2 - min_a for v in range(len(x))), default=0.0))

    def to_xy(a, b):
        if flip:
            b = total_along - b
        return (b, a) if horiz else (a, b)

    boxes = {}
    for v, (a0, b0, wa, wb) in abox.items():
        if flip:
            b0 = total_along - b0 - wb
        boxes[main[v]] = (b0, a0, wb, wa) if horiz else (a0, b0, wa, wb)
    routes = [None] * len(edges)
    for k, pts in aroutes.items():
        routes[k] = [to_xy(a, b) for a, b in pts]

    main_w = total_along if horiz else width_a
    panel_boxes = _lay_out_panels(panels, sizes, boxes, main_w + (3 * node_sep if n else 0.0), node_sep)

    # edges that touch panel nodes or loop on one node: straight segments between centres
    for k, (t, h) in enumerate(edges):
        if routes[k] is None and t in boxes and h in boxes:
            routes[k] = _straight(boxes[t], boxes[h])

    layout = _shifted_by_margin(boxes, panel_boxes, routes, margin)
    layout.layer_of = {main[v]: layer[v] for v in range(n)}
    layout.crossings = crossings
    return layout


# ---------------------------------------------------------------------------- the steps
@dataclass
class _Vertices:
    """The layout's vertices: the real nodes ``0..n-1``, then one dummy per layer a long edge crosses."""

    n: int
    layer: list     # vertex -> layer index
    across: list    # vertex -> size across the layer direction
    is_dummy: list
    chains: dict    # edge k -> [vertices from the upper end to the lower end]
    laned: set      # edges that run in a lane left of the graph instead of through dummies
    up: list        # vertex -> [(neighbour in the layer above, weight)]
    down: list      # vertex -> [(neighbour in the layer below, weight)]


@dataclass
class _Bands:
    """Where each layer's band starts along the layer direction, how thick it is, the gap between."""

    start: list
    thick: list
    gap: float
    length: float   # from the first band's start to the last band's end


def _bands(layer, along, n_layers, rank_sep):
    """Each layer's band along the layer direction, as thick as its thickest node."""
    thick = [0.0] * n_layers
    for v in range(len(along)):
        if along[v] > thick[layer[v]]:
            thick[layer[v]] = along[v]
    start = []
    pos = 0.0
    for lay in range(n_layers):
        start.append(pos)
        pos += thick[lay] + rank_sep
    return _Bands(start, thick, rank_sep, pos - rank_sep if n_layers else 0.0)


def _acyclic(main, edges):
    """Step 1: the edges between two distinct main nodes as ``(k, a, b, reversed)``, back edges turned."""
    n = len(main)
    idx = {nid: i for i, nid in enumerate(main)}
    succ_set = [dict() for _ in range(n)]  # ordered unique successors
    graph_edges = []  # (k, a, b) for edges between two main nodes, a != b
    for k, (t, h) in enumerate(edges):
        if t in idx and h in idx and t != h:
            a, b = idx[t], idx[h]
            graph_edges.append((k, a, b))
            succ_set[a][b] = None
    back = _back_edges(n, [list(s) for s in succ_set])
    dag = []
    for k, a, b in graph_edges:
        if (a, b) in back:
            dag.append((k, b, a, True))
        else:
            dag.append((k, a, b, False))
    return dag


def _layering(n, dag):
    """Step 2: longest path from the sinks. Returns (layer per node, number of layers, in-degrees)."""
    succ = [[] for _ in range(n)]
    indeg = [0] * n
    for _, a, b, _r in dag:
        succ[a].append(b)
        indeg[b] += 1
    topo = [v for v in range(n) if indeg[v] == 0]
    deg = indeg[:]
    i = 0
    while i < len(topo):
        v = topo[i]
        i += 1
        for w in succ[v]:
            deg[w] -= 1
            if deg[w] == 0:
                topo.append(w)
    rank = [0] * n
    for v in reversed(topo):
        r = 0
        for w in succ[v]:
            if rank[w] + 1 > r:
                r = rank[w] + 1
        rank[v] = r
    n_layers = (max(rank) + 1) if n else 0
    return [n_layers - 1 - r for r in rank], n_layers, indeg


def _lanes(dag, layer, budget):
    """The edges that run in the side lane: the longest ones, until the dummies fit the budget.

    A layered layout spends one dummy per crossed layer; an input shared by ops far apart (a weight
    reused by 500 unrolled steps) would need hundreds of thousands.
    """
    spans = sorted(((layer[b] - layer[a] - 1, k) for k, a, b, _r in dag), reverse=True)
    total = sum(sp for sp, _ in spans)
    laned = set()
    for sp, k in spans:
        if total <= budget or sp <= 1:
            break
        laned.add(k)
        total -= sp
    return laned


def _with_dummies(n, dag, layer, across, indeg, dummy_width, budget):
    """Step 3: split long edges into chains through dummy vertices and weigh the links."""
    v_layer = layer[:]
    v_across = across[:]
    is_dummy = [False] * n
    laned = _lanes(dag, layer, budget)
    chains = {}
    for k, a, b, _r in dag:
        if k in laned:
            continue
        chain = [a]
        for lay in range(layer[a] + 1, layer[b]):
            d = len(v_layer)
            v_layer.append(lay)
            v_across.append(dummy_width)
            is_dummy.append(True)
            chain.append(d)
        chain.append(b)
        chains[k] = chain
    nv = len(v_layer)
    # A "satellite" (a source with one edge: a parameter, a saved array) follows its
    # consumer but barely pulls on it, so a chain of ops stays straight instead of
    # drifting towards the parameters hung on its side.
    outdeg = [0] * n
    for _, a, _b, _r in dag:
        outdeg[a] += 1
    satellite = [indeg[v] == 0 and outdeg[v] == 1 for v in range(n)] + [False] * (nv - n)
    up = [[] for _ in range(nv)]
    down = [[] for _ in range(nv)]
    for chain in chains.values():
        for u, w in zip(chain, chain[1:], strict=False):
            wt = 8.0 if (is_dummy[u] and is_dummy[w]) else 2.0 if (is_dummy[u] or is_dummy[w]) else 1.0
            down[u].append((w, wt))
            up[w].append((u, wt * 0.1 if satellite[u] else wt))
    return _Vertices(n, v_layer, v_across, is_dummy, chains, laned, up, down)


def _order(g, n_layers, order_sweeps):
    """Step 4: barycenter sweeps down and up; the ordering with the fewest crossings and its count."""
    layers = _initial_order(len(g.layer), n_layers, g.layer, g.down, g.up)
    best = [lst[:] for lst in layers]
    best_c = _total_crossings(layers, g.down)
    if best_c:
        for it in range(order_sweeps):
            if it % 2 == 0:
                for lay in range(1, n_layers):
                    _barycenter_sort(layers[lay], layers[lay - 1], g.up)
            else:
                for lay in range(n_layers - 2, -1, -1):
                    _barycenter_sort(layers[lay], layers[lay + 1], g.down)
            _transpose(layers, g.up, g.down)
            c = _total_crossings(layers, g.down)
            if c < best_c:
                best_c = c
                best = [lst[:] for lst in layers]
                if c == 0:
                    break
    return best, best_c


def _place(g, layers, n_layers, node_sep, place_sweeps):
    """Step 5: each vertex's centre across its layer, packed then pulled towards its neighbours."""
    x = [0.0] * len(g.layer)
    for lst in layers:
        pos = 0.0
        for j, v in enumerate(lst):
            if j:
                pos += _sep(lst[j - 1], v, g.across, g.is_dummy, node_sep)
            x[v] = pos
        mid = pos / 2
        for v in lst:
            x[v] -= mid
    for it in range(place_sweeps):
        if it % 2 == 0:
            for lay in range(1, n_layers):
                _place_layer(layers[lay], x, g.across, g.is_dummy, node_sep, g.up, g.up, g.down)
        else:
            for lay in range(n_layers - 2, -1, -1):
                _place_layer(layers[lay], x, g.across, g.is_dummy, node_sep, g.down, g.up, g.down)
    for lay in range(n_layers):  # a final pass that looks both ways
        _place_layer(layers[lay], x, g.across, g.is_dummy, node_sep, None, g.up, g.down)
    return x


def _ports(g, dag, x, min_a, across):
    """Where each edge leaves its tail and enters its head, spread across the box in neighbour order.

    Returns (edge -> port across at the tail, edge -> port across at the head, tail -> side lane).
    """
    n = g.n
    out_ports = {v: [] for v in range(n)}
    in_ports = {v: [] for v in range(n)}
    for k, chain in g.chains.items():
        out_ports[chain[0]].append((x[chain[1]], k))
        in_ports[chain[-1]].append((x[chain[-2]], k))
    lane_of = {}  # laned edges share one lane per tail node
    for k, a, b, _r in dag:
        if k in g.laned:
            lane_of.setdefault(a, len(lane_of))
            out_ports[a].append((-math.inf, k))
            in_ports[b].append((-math.inf, k))
    port_out, port_in = {}, {}
    for v in range(n):
        for ports, store in ((out_ports[v], port_out), (in_ports[v], port_in)):
            if not ports:
                continue
            ports.sort()
            m = len(ports)
            step = min(10.0, 0.7 * across[v] / m) if m > 1 else 0.0
            for j, (_, k) in enumerate(ports):
                store[k] = x[v] - min_a + (j - (m - 1) / 2) * step
    return port_out, port_in, lane_of


def _route(g, dag, layer, x, min_a, across, abox, bands):
    """Step 6: one polyline per DAG edge in (across, along) coordinates, from tail to head."""
    port_out, port_in, lane_of = _ports(g, dag, x, min_a, across)
    band, thick, rank_sep = bands.start, bands.thick, bands.gap
    aroutes = {}
    for k, a, b, rev in dag:
        pa = port_out[k]
        if k in g.laned:
            lane = lane_of[a]
            lane_a = -14.0 - 8.0 * lane
            frac = 0.2 + 0.6 * ((lane % 7) + 0.5) / 7
            la, lb = layer[a], layer[b]
            y_out = band[la] + thick[la] + rank_sep * frac
            y_in = band[lb - 1] + thick[lb - 1] + rank_sep * frac
            _, ay0, _, ah = abox[a]
            pts = [(pa, ay0 + ah), (pa, y_out), (lane_a, y_out), (lane_a, y_in),
                   (port_in[k], y_in), (port_in[k], abox[b][1])]
            pts = _simplify(pts)
            aroutes[k] = pts[::-1] if rev else pts
            continue
        chain = g.chains[k]
        pb = port_in[k]
        _, ay0, _, ah = abox[a]
        _, by0, _, _ = abox[b]
        la, lb = layer[a], layer[b]
        pts = [(pa, ay0 + ah)]
        end_a = band[la] + thick[la]
        if end_a > ay0 + ah + 0.5:
            pts.append((pa, end_a))
        for d in chain[1:-1]:
            ld = g.layer[d]
            xd = x[d] - min_a
            pts.append((xd, band[ld]))
            pts.append((xd, band[ld] + thick[ld]))
        if by0 > band[lb] + 0.5:
            pts.append((pb, band[lb]))
        pts.append((pb, by0))
        pts = _simplify(pts)
        if rev:
            pts.reverse()
        aroutes[k] = pts
    return aroutes


def _lay_out_panels(panels, sizes, boxes, px, node_sep):
    """Each panel's nodes as a grid in a titled frame, frames left to right from ``px``.

    Adds the panel nodes' boxes to ``boxes``; returns panel name -> frame box.
    """
    panel_boxes = {}
    title_h = 22.0
    pad = 12.0
    for name, (title, ids) in panels.items():
        ids = [i for i in ids if i in sizes]
        if not ids:
            continue
        cols = max(1, math.ceil(math.sqrt(len(ids))))
        rows = math.ceil(len(ids) / cols)
        col_w = [0.0] * cols
        row_h = [0.0] * rows
        for j, nid in enumerate(ids):
            w, h = sizes[nid]
            r, c = divmod(j, cols)
            col_w[c] = max(col_w[c], w)
            row_h[r] = max(row_h[r], h)
        title_w = 8.0 * len(title or "") + 2 * pad
        inner_w = sum(col_w) + node_sep * (cols - 1)
        fw = max(inner_w + 2 * pad, title_w)
        fh = title_h + sum(row_h) + node_sep * (rows - 1) + pad
        x0 = px + (fw - inner_w - 2 * pad) / 2
        for j, nid in enumerate(ids):
            w, h = sizes[nid]
            r, c = divmod(j, cols)
            cx = x0 + pad + sum(col_w[:c]) + node_sep * c + (col_w[c] - w) / 2
            cy = title_h + sum(row_h[:r]) + node_sep * r + (row_h[r] - h) / 2
            boxes[nid] = (cx, cy, w, h)
        panel_boxes[name] = (px, 0.0, fw, fh)
        px += fw + 2 * node_sep
    return panel_boxes


def _shifted_by_margin(boxes, panel_boxes, routes, margin):
    """The final :class:`Layout`: everything moved so the top-left content sits ``margin`` in."""
    xs = [bx for bx, _, _, _ in boxes.values()] + [p[0] for p in panel_boxes.values()]
    ys = [by for _, by, _, _ in boxes.values()] + [p[1] for p in panel_boxes.values()]
    for r in routes:
        if r:
            xs += [p[0] for p in r]
            ys += [p[1] for p in r]
    ox = margin - min(xs, default=0.0)
    oy = margin - min(ys, default=0.0)
    boxes = {k: (bx + ox, by + oy, bw, bh) for k, (bx, by, bw, bh) in boxes.items()}
    panel_boxes = {k: (bx + ox, by + oy, bw, bh) for k, (bx, by, bw, bh) in panel_boxes.items()}
    routes = [[(px_ + ox, py_ + oy) for px_, py_ in r] if r else [] for r in routes]
    right = [bx + bw for bx, _, bw, _ in boxes.values()] + [p[0] + p[2] for p in panel_boxes.values()]
    bottom = [by + bh for _, by, _, bh in boxes.values()] + [p[1] + p[3] for p in panel_boxes.values()]
    for r in routes:
        right += [p[0] for p in r]
        bottom += [p[1] for p in r]
    width = max(right, default=0.0) + margin
    height = max(bottom, default=0.0) + margin
    return Layout(width=max(width, 2 * margin), height=max(height, 2 * margin), boxes=boxes,
                  routes=routes, panels=panel_boxes)


# ---------------------------------------------------------------------------- helpers
def _back_edges(n, succ):
    """Edges (a, b) that close a cycle, found by an iterative depth-first search."""
    state = [0] * n  # 0 unseen, 1 on the stack, 2 finished
    back = set()
    for s in range(n):
        if state[s]:
            continue
        state[s] = 1
        stack = [(s, iter(succ[s]))]
        while stack:
            v, it = stack[-1]
            for w in it:
                if state[w] == 0:
                    state[w] = 1
                    stack.append((w, iter(succ[w])))
                    break
                if state[w] == 1:
                    back.add((v, w))
            else:
                state[v] = 2
                stack.pop()
    return back


def _initial_order(nv, n_layers, v_layer, down, up):
    """Depth-first order from the top: connected vertices start out next to each other."""
    layers = [[] for _ in range(n_layers)]
    seen = [False] * nv
    starts = [v for v in range(nv) if not up[v]] + list(range(nv))
    for s in starts:
        if seen[s]:
            continue
        stack = [s]
        while stack:
            v = stack.pop()
            if seen[v]:
                continue
            seen[v] = True
            layers[v_layer[v]].append(v)
            # visit children (and co-parents of those children) in order
            for w, _ in reversed(down[v]):
                if not seen[w]:
                    stack.append(w)
            for w, _ in reversed(up[v]):
                if not seen[w]:
                    stack.append(w)
    return layers


def _barycenter_sort(free, fixed, nbrs):
    if len(free) < 2:
        return
    pos = {v: (j + 0.5) / len(fixed) for j, v in enumerate(fixed)}
    m = len(free)
    keys = {}
    for j, v in enumerate(free):
        s = wsum = 0.0
        for u, wt in nbrs[v]:
            p = pos.get(u)
            if p is not None:
                s += p * wt
                wsum += wt
        keys[v] = s / wsum if wsum else (j + 0.5) / m
    free.sort(key=keys.__getitem__)


def _crossings(upper, lower, down):
    """Crossings between two adjacent layers (inversion count, Fenwick tree)."""
    if len(upper) < 2 or len(lower) < 2:
        return 0
    pos = {v: j for j, v in enumerate(lower)}
    seq = []
    for u in upper:
        seq.extend(sorted(pos[w] for w, _ in down[u] if w in pos))
    size = len(lower)
    tree = [0] * (size + 1)
    count = 0
    for seen, p in enumerate(seq):
        # number of earlier entries with a larger position
        i = p + 1
        le = 0
        while i > 0:
            le += tree[i]
            i -= i & -i
        count += seen - le
        i = p + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return count


def _total_crossings(layers, down):
    return sum(_crossings(layers[j], layers[j + 1], down) for j in range(len(layers) - 1))


def _transpose(layers, up, down, rounds=4):
    """Swap neighbours within a layer while that lowers the crossings around them.

    Swapping u and v only changes the crossings between their own edges, so each test
    counts pairs of their neighbours' positions (both adjacent layers), nothing more.
    """
    nl = len(layers)
    for _ in range(rounds):
        improved = False
        for lay in range(nl):
            lst = layers[lay]
            if len(lst) < 2:
                continue
            pos_up = {v: j for j, v in enumerate(layers[lay - 1])} if lay > 0 else {}
            pos_dn = {v: j for j, v in enumerate(layers[lay + 1])} if lay + 1 < nl else {}
            nb = {}
            for v in lst:
                nb[v] = (sorted(pos_up[u] for u, _ in up[v] if u in pos_up),
                         sorted(pos_dn[w] for w, _ in down[v] if w in pos_dn))
            for j in range(len(lst) - 1):
                u, v = lst[j], lst[j + 1]
                (uu, ud), (vu, vd) = nb[u], nb[v]
                keep = _pairs_above(uu, vu) + _pairs_above(ud, vd)
                if keep == 0:
                    continue
                swap = _pairs_above(vu, uu) + _pairs_above(vd, ud)
                if swap < keep:
                    lst[j], lst[j + 1] = v, u
                    improved = True
        if not improved:
            break


def _pairs_above(a, b):
    """Number of pairs (x in a, y in b) with x > y; a and b sorted."""
    count = j = 0
    nb = len(b)
    for x in a:
        while j < nb and b[j] < x:
            j += 1
        count += j
    return count


def _sep(u, v, v_across, is_dummy, node_sep):
    if not (is_dummy[u] or is_dummy[v]):
        gap = node_sep
    else:
        gap = node_sep / 2 if not (is_dummy[u] and is_dummy[v]) else 4.0
    return (v_across[u] + v_across[v]) / 2 + gap


def _place_layer(lst, x, v_across, is_dummy, node_sep, nbrs, up, down):
    """Move a layer's vertices as near their neighbours' mean as order and spacing allow.

    Minimises sum w_i (x_i - t_i)^2 subject to x_{i+1} - x_i >= sep_i: with
    y_i = x_i - S_i (S the cumulated separations) it is an isotonic regression.
    """
    m = len(lst)
    if not m:
        return
    S = [0.0] * m
    for j in range(1, m):
        S[j] = S[j - 1] + _sep(lst[j - 1], lst[j], v_across, is_dummy, node_sep)
    blocks = []  # [weighted sum, weight, count]
    for j, v in enumerate(lst):
        s = wsum = 0.0
        sources = (nbrs[v],) if nbrs is not None else (up[v], down[v])
        for src in sources:
            for u, wt in src:
                s += x[u] * wt
                wsum += wt
        if wsum:
            t, wt = s / wsum, wsum
        else:
            t, wt = x[v], 0.05
        blocks.append([(t - S[j]) * wt, wt, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s2, w2, c2 = blocks.pop()
            blocks[-1][0] += s2
            blocks[-1][1] += w2
            blocks[-1][2] += c2
    j = 0
    for s, w, c in blocks:
        y = s / w
        for _ in range(c):
            x[lst[j]] = y + S[j]
            j += 1


def _simplify(pts):
    """Drop repeated points and middle points of straight runs."""
    out = []
    for p in pts:
        if out and abs(out[-1][0] - p[0]) < 1e-6 and abs(out[-1][1] - p[1]) < 1e-6:
            continue
        if len(out) >= 2:
            (x0, y0), (x1, y1) = out[-2], out[-1]
            if abs((x1 - x0) * (p[1] - y0) - (y1 - y0) * (p[0] - x0)) < 1e-6:
                out[-1] = p
                continue
        out.append(p)
    if len(out) == 1:
        out.append(out[0])
    return out


def _straight(ta, hb):
    """A segment from box ``ta``'s border to box ``hb``'s border along the centre line."""
    tx, ty, tw, th = ta
    hx, hy, hw, hh = hb
    c0 = (tx + tw / 2, ty + th / 2)
    c1 = (hx + hw / 2, hy + hh / 2)
    if c0 == c1:  # self loop: a small hook on the right side
        r = tx + tw
        return [(r, ty + th * 0.35), (r + 18, ty + th * 0.35), (r + 18, ty + th * 0.65), (r, ty + th * 0.65)]

    def clip(c, other, w, h):
        dx, dy = other[0] - c[0], other[1] - c[1]
        sx = (w / 2) / abs(dx) if dx else math.inf
        sy = (h / 2) / abs(dy) if dy else math.inf
        s = min(sx, sy, 1.0)
        return (c[0] + dx * s, c[1] + dy * s)

    return [clip(c0, c1, tw, th), clip(c1, c0, hw, hh)]

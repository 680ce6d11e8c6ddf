"""A minimal pytree (tuple / list / dict / namedtuple of leaves) for the function transforms."""
from __future__ import annotations


class _Spec:
    __slots__ = ("kind", "meta", "children")

    def __init__(self, kind, meta=None, children=()):
        self.kind, self.meta, self.children = kind, meta, children

    @property
    def num_leaves(self):
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        inner = ", ".join(repr(c) for c in self.children)
        return {"tuple": f"({inner})", "list": f"[{inner}]"}.get(self.kind, f"{self.kind}({inner})")


LEAF = _Spec("leaf")


def tree_flatten(tree):
    leaves = []

    def go(t):
        if isinstance(t, tuple) and hasattr(t, "_fields"):
            return _Spec("namedtuple", type(t), tuple(go(c) for c in t))
        if isinstance(t, (tuple, list)):
            return _Spec(type(t).__name__ if type(t) in (tuple, list) else "tuple",
                         None, tuple(go(c) for c in t))
        if isinstance(t, dict):
            keys = list(t.keys())
            return _Spec("dict", keys, tuple(go(t[k]) for k in keys))
        leaves.append(t)
        return LEAF

    spec = go(tree)
    return leaves, spec


def tree_unflatten(leaves, spec):
    it = iter(leaves)

    def go(s):
        if s.kind == "leaf":
            return next(it)
        kids = [go(c) for c in s.children]
        if s.kind == "tuple":
            return tuple(kids)
        if s.kind == "list":
            return kids
        if s.kind == "namedtuple":
            return s.meta(*kids)
        return dict(zip(s.meta, kids, strict=True))

    return go(spec)


def tree_map(fn, tree):
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([fn(x) for x in leaves], spec)


def broadcast_prefix(prefix, tree, is_leaf_prefix):
    """Expand ``prefix`` (e.g. in_dims) to one entry per leaf of ``tree``; None if incompatible."""
    out = []

    def go(p, t):
        if is_leaf_prefix(p):
            leaves, _ = tree_flatten(t)
            out.extend([p] * len(leaves))
            return True
        if isinstance(p, (tuple, list)) and isinstance(t, (tuple, list)):
            if len(p) != len(t):
                return False
            return all(go(a, b) for a, b in zip(p, t, strict=True))
        if isinstance(p, dict) and isinstance(t, dict):
            if set(p) != set(t):
                return False
            return all(go(p[k], t[k]) for k in t)
        return False

    return out if go(prefix, tree) else None

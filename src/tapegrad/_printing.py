"""Render NumPy arrays exactly the way PyTorch prints tensors.

The goal is byte-for-byte parity with ``repr(torch.Tensor)`` for dense CPU
tensors of real dtypes, so every quirk of PyTorch's printer that affects the
output (how the float mode is chosen, which values decide column width, how
summarised data feeds the formatter, how suffixes wrap) is reproduced here on
purpose, even where it looks odd.
"""

from __future__ import annotations

import math
from typing import Any
from collections.abc import Iterable

import numpy as np

__all__ = [
    "set_printoptions",
    "get_printoptions",
    "printoptions",
    "tensor_repr",
    "default_shows_dtype",
]

# Field order matters: get_printoptions() must list keys like torch does.
_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}

_OPTS: dict[str, Any] = dict(_PROFILES["default"], sci_mode=None)

# Dtypes torch can infer from the printed literals, so it omits ``dtype=``.
_IMPLIED_DTYPES = frozenset({"int64", "bool"})


def set_printoptions(
    precision=None,
    threshold=None,
    edgeitems=None,
    linewidth=None,
    profile=None,
    sci_mode=None,
) -> None:
    """Set global print options, with the semantics of ``torch.set_printoptions``.

    ``profile`` ('default', 'short' or 'full') is applied first and the other
    arguments override it; ``None`` leaves an option unchanged, except
    ``sci_mode``, which is always assigned (so omitting it re-enables automatic
    scientific-notation selection, as in torch). Unknown profiles are ignored.
    """
    if profile is not None and profile in _PROFILES:
        _OPTS.update(_PROFILES[profile])
    if precision is not None:
        _OPTS["precision"] = precision
    if threshold is not None:
        _OPTS["threshold"] = threshold
    if edgeitems is not None:
        _OPTS["edgeitems"] = edgeitems
    if linewidth is not None:
        _OPTS["linewidth"] = linewidth
    _OPTS["sci_mode"] = sci_mode


def get_printoptions() -> dict:
    """Return the current print options as a dict usable as ``set_printoptions(**d)``."""
    return dict(_OPTS)


class printoptions:
    """Context manager that sets print options temporarily (like ``torch._tensor_str.printoptions``)."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._saved: dict | None = None

    def __enter__(self):
        self._saved = get_printoptions()
        set_printoptions(**self._kwargs)
        return self

    def __exit__(self, *exc):
        set_printoptions(**self._saved)
        return False


def _normalize_dtype_name(dtype_name: str) -> str:
    return dtype_name[len("torch."):] if dtype_name.startswith("torch.") else dtype_name


def default_shows_dtype(dtype_name: str, empty: bool = False, default_dtype: str = "float32") -> bool:
    """Whether torch prints ``dtype=...`` for a tensor of this dtype.

    Non-empty tensors hide the default float dtype, ``int64`` and ``bool``
    because the printed literals already imply them. Empty tensors have no
    literals to infer anything from, so every dtype except the default float
    dtype is shown.
    """
    name = _normalize_dtype_name(dtype_name)
    if empty:
        return name != default_dtype
    return name != default_dtype and name not in _IMPLIED_DTYPES


class _Formatter:
    """Chooses one number style and one column width for a whole tensor."""

    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        precision = _OPTS["precision"]

        if not self.floating:
            # str() length of ints/bools is monotone within each sign, so the
            # distinct values are plenty; unique() keeps this cheap.
            for v in np.unique(values).tolist():
                self.max_width = max(self.max_width, len(f"{v}"))
            return

        # Zeros and non-finite values never influence the mode or the width;
        # that is why e.g. a lone ``-inf`` may stick out of its column.
        flat = values.reshape(-1)
        vals = flat[np.isfinite(flat) & (flat != 0)]
        if vals.size == 0:
            # torch bails out here, so even sci_mode=True is ignored.
            return
        # Python floats are doubles, and torch formats every dtype via double.
        vals = vals.astype(np.float64)

        self.int_mode = bool(np.all(vals == np.ceil(vals)))

        absvals = np.abs(vals)
        lo = float(absvals.min())
        hi = float(absvals.max())
        if _OPTS["sci_mode"] is None:
            with np.errstate(over="ignore"):
                ratio = hi / lo
            self.sci_mode = ratio > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        else:
            self.sci_mode = _OPTS["sci_mode"]

        distinct = np.unique(vals).tolist()
        if self.sci_mode:
            widths = (len(f"{v:.{precision}e}") for v in distinct)
        elif self.int_mode:
            # +1 for the trailing '.' that marks integral floats.
            widths = (len(f"{v:.0f}") + 1 for v in distinct)
        else:
            widths = (len(f"{v:.{precision}f}") for v in distinct)
        self.max_width = max(self.max_width, max(widths))

    def format(self, value) -> str:
        precision = _OPTS["precision"]
        if self.floating:
            if self.sci_mode:
                text = f"{value:{self.max_width}.{precision}e}"
            elif self.int_mode:
                text = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    text += "."
            else:
                text = f"{value:.{precision}f}"
        else:
            text = f"{value}"
        return text.rjust(self.max_width)


def _summarized(data: np.ndarray) -> np.ndarray:
    """The values that remain visible after summarisation; only they set the style."""
    edge = _OPTS["edgeitems"]
    if data.ndim == 0:
        return data
    if data.ndim == 1:
        if data.shape[0] > 2 * edge:
            # With edge == 0, ``data[-0:]`` is the whole vector; torch relies on
            # the same slicing, so the formatter then sees every value.
            return np.concatenate((data[:edge], data[-edge:]))
        return data
    if not edge:
        return np.empty((0,) * data.ndim, dtype=data.dtype)
    if data.shape[0] > 2 * edge:
        rows = list(range(edge)) + list(range(data.shape[0] - edge, data.shape[0]))
    else:
        rows = range(data.shape[0])
    return np.stack([_summarized(data[i]) for i in rows])


def _vector_str(data: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    edge = _OPTS["edgeitems"]
    # Each element takes its width plus ", ".
    element_length = fmt.max_width + 2
    per_line = max(1, math.floor((_OPTS["linewidth"] - indent) / element_length))

    if summarize and not edge:
        items = ["..."]
    elif summarize and data.shape[0] > 2 * edge:
        items = (
            [fmt.format(v) for v in data[:edge].tolist()]
            + [" ..."]
            + [fmt.format(v) for v in data[-edge:].tolist()]
        )
    else:
        items = [fmt.format(v) for v in data.tolist()]

    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(data: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if data.ndim == 0:
        return fmt.format(data.item())
    if data.ndim == 1:
        return _vector_str(data, indent, summarize, fmt)

    edge = _OPTS["edgeitems"]
    n = data.shape[0]
    if summarize and n > 2 * edge:
        blocks = (
            [_nested_str(data[i], indent + 1, summarize, fmt) for i in range(edge)]
            + ["..."]
            + [_nested_str(data[i], indent + 1, summarize, fmt) for i in range(n - edge, n)]
        )
    else:
        blocks = [_nested_str(data[i], indent + 1, summarize, fmt) for i in range(n)]

    # One blank line per dimension beyond 2 separates the sub-blocks.
    sep = "," + "\n" * (data.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(blocks) + "]"


def _body_str(data: np.ndarray, indent: int) -> str:
    if data.size == 0:
        return "[]"
    summarize = data.size > _OPTS["threshold"]
    fmt = _Formatter(_summarized(data) if summarize else data)
    return _nested_str(data, indent, summarize, fmt)


def _append_suffixes(text: str, suffixes: Iterable[str], indent: int) -> str:
    linewidth = _OPTS["linewidth"]
    parts = [text]
    # torch over-counts the current line by 2 here (its length arithmetic
    # adds 1 to an rfind that already returns -1/the newline index), and only
    # on this first line; matching that keeps wrap points identical.
    line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if line_len + len(suffix) + 2 > linewidth:
            parts.append(",\n" + " " * indent + suffix)
            line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(
    data: np.ndarray,
    dtype_name: str,
    show_dtype: bool | None = None,
    suffixes: Iterable[str] = (),
    *,
    default_dtype: str = "float32",
) -> str:
    """Return the string ``repr(tensor)`` (== ``str(tensor)``) gives in PyTorch.

    ``data`` holds the tensor's values; ``dtype_name`` is its dtype without the
    ``torch.`` prefix (e.g. ``"float64"``). ``show_dtype`` says whether to print
    ``dtype=torch.<name>``; pass ``None`` to apply torch's rule (see
    :func:`default_shows_dtype`). Because torch always names a non-default
    dtype for an empty tensor, that happens here too whatever ``show_dtype``
    says. ``suffixes`` are preformatted items such as ``"grad_fn=<MulBackward0>"``
    or ``"requires_grad=True"``, appended after ``size=``/``dtype=`` in the
    given order and wrapped at the configured line width like torch does.
    """
    data = np.asarray(data)
    name = _normalize_dtype_name(dtype_name)
    prefix = "tensor("
    indent = len(prefix)
    empty = data.size == 0

    if show_dtype is None:
        show = default_shows_dtype(name, empty=empty, default_dtype=default_dtype)
    else:
        show = bool(show_dtype) or (empty and name != default_dtype)

    items: list[str] = []
    if empty:
        # Only a 1-D empty tensor is fully described by ``[]``.
        if data.ndim != 1:
            items.append(f"size={tuple(int(s) for s in data.shape)}")
    elif not _OPTS["edgeitems"]:
        # With no edge items nothing but ``...`` may be shown, so torch adds the shape.
        items.append(f"size={tuple(int(s) for s in data.shape)}")
    if show:
        items.append(f"dtype=torch.{name}")
    items.extend(suffixes)

    return _append_suffixes(prefix + _body_str(data, indent), items, indent)

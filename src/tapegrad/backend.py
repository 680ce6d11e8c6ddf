"""The one seam between tapegrad and an array library.

Every op computes on raw arrays through ``xp`` (NumPy today). A CuPy backend
would provide the same names for ``"cuda"`` tensors; op logic never imports
NumPy itself, so adding a device means extending this module, not the ops.
"""
from __future__ import annotations

import math

import numpy as np

xp = np
ndarray = np.ndarray

#: the devices this build can place tensors on
SUPPORTED_DEVICES = ("cpu",)


#: device types PyTorch's parser accepts (in its message's order); only "cpu" holds data here
DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga",
                "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")

#: what PyTorch built without a backend says when data would go there (exception class, text)
_UNBUILT = {
    "cuda": (AssertionError, "Torch not compiled with CUDA enabled"),
    "xpu": (AssertionError, "Torch not compiled with XPU enabled"),
    "mps": (RuntimeError, "PyTorch is not linked with support for mps devices"),
}


def parse_device(spec: str):
    """``"cuda:1"`` -> ``("cuda", 1)``, with PyTorch's errors for a malformed string."""
    if not spec:
        raise RuntimeError("Device string must not be empty")
    kind, sep, idx = spec.partition(":")
    if kind not in DEVICE_TYPES:
        raise RuntimeError(f"Expected one of {', '.join(DEVICE_TYPES)} device type at start of "
                           f"device string: {spec}")
    if not sep:
        return kind, None
    # PyTorch accepts only plain decimal digits, without a leading zero unless the index is 0
    if not idx.isdigit() or not idx.isascii() or (len(idx) > 1 and idx[0] == "0"):
        raise RuntimeError(f"Invalid device string: '{spec}'")
    return kind, int(idx)


def check_device(device) -> str:
    """Normalise a device argument where data is placed (None, "cpu", "cpu:0", a ``device``)
    to "cpu", or raise what a PyTorch build without that backend raises."""
    if device is None:
        return "cpu"
    name = str(device)
    if name == "cpu" or name == "cpu:0":
        return "cpu"
    kind = parse_device(name)[0] if isinstance(device, str) else name.partition(":")[0]
    if kind in _UNBUILT:
        cls, msg = _UNBUILT[kind]
        raise cls(msg)
    raise RuntimeError(
        f"tapegrad supports only the 'cpu' device in this build, got device {name!r}; "
        "a CuPy backend for 'cuda' is planned (see docs/porting.md)"
    )


def sum_to(g, shape):
    """Sum an array ``g`` down to ``shape`` (the inverse of broadcasting).

    Handles both extra leading dimensions and size-1 axes that were expanded.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if lead:
        g = g.reshape(shape)
    return g


def broadcast_error(shapes):
    """PyTorch's error for shapes that do not broadcast (its ``infer_size`` message), or None."""
    acc = ()
    for s in shapes:
        s = tuple(s)
        n = max(len(acc), len(s))
        out = []
        for i in range(n - 1, -1, -1):
            off = n - 1 - i
            a = acc[len(acc) - 1 - off] if off < len(acc) else 1
            b = s[len(s) - 1 - off] if off < len(s) else 1
            if a != b and a != 1 and b != 1:
                return RuntimeError(f"The size of tensor a ({a}) must match the size of tensor b "
                                    f"({b}) at non-singleton dimension {i}")
            out.append(a if b == 1 else b)
        acc = tuple(reversed(out))
    return None


def channel_rows(x):
    """``x`` (N, C, ...) as an (M, C) matrix, a view, when its channel axis is innermost in
    memory (a channels-last convolution output; a (B, C) batch is its own rows); else None."""
    if x.ndim > 2:
        x = x.transpose((0,) + tuple(range(2, x.ndim)) + (1,))
    if x.ndim < 2 or not x.flags.c_contiguous:
        return None
    return x.reshape(-1, x.shape[-1])


def per_column(ufunc, rows, vec, out=None):
    """``ufunc(rows, vec, out=out)`` for C-contiguous (M, C) ``rows`` and a (C,) ``vec`` (a
    channels-last activation and a per-channel bias or scale), elementwise the same values.

    NumPy broadcasts ``vec`` row by row, so with few columns each inner loop is short and its
    per-row cost dominates: (50176, 16) float32 ``rows - vec`` 520 us. Rows of at most 128 bytes
    are regrouped k at a time against ``vec`` tiled k times, k*C values of about 2 KB (longer
    rows met 4 KB aliasing stalls here, up to 7x slower): 243 us; (12544, 32) 188 -> 121 us.
    With 64 float32 columns the gain was within noise, so wider rows go straight through."""
    m, c = rows.shape
    if rows.size >= 32768 and c * rows.itemsize <= 128 and rows.flags.c_contiguous and \
            getattr(vec, "shape", None) == (c,) and (out is None or out.flags.c_contiguous):
        k = math.gcd(m, 2048 // (c * rows.itemsize))
        if k > 1:
            wide = (m // k, k * c)
            res = ufunc(rows.reshape(wide), np.tile(vec, k),
                        out=None if out is None else out.reshape(wide))
            return res.reshape(m, c)
    return ufunc(rows, vec, out=out)


def asarray(x, dtype=None):
    return np.asarray(x, dtype=dtype)


def is_array(x) -> bool:
    return isinstance(x, np.ndarray)


def may_share_memory(a, b) -> bool:
    return np.may_share_memory(a, b)


def sigmoid(x):
    """Logistic function without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    d = 1 + e
    return np.where(x >= 0, 1 / d, e / d).astype(x.dtype, copy=False)


_erf_scalar = np.frompyfunc(__import__("math").erf, 1, 1)


def erf(x):
    """Error function to full double precision (libm's erf, elementwise)."""
    # NOTE: NumPy has no erf ufunc; libm through frompyfunc is exact but ~60 ns/element.
    # (np.asarray: on a 0-d input frompyfunc returns a Python float, not an array)
    return np.asarray(_erf_scalar(x)).astype(x.dtype if x.dtype.kind == "f" else np.float64)

"""The Tensor: an array, autograd metadata, and operators that call ops.

Everything numeric lives in ``tapegrad.ops``; this class holds storage
(``_data``, a backend array), graph metadata (``grad_fn``, ``requires_grad``,
``grad``), the version counter shared with views, and forwards methods and
operators to the ops. Most methods are attached at the bottom of this file
from ``ops`` by name, so a method and its top-level function are one object.
"""
from __future__ import annotations

import warnings
import weakref
from typing import TYPE_CHECKING, Any

from . import backend as B
from . import dtypes
from .autograd import grad_mode
from .autograd._version import VersionCounter, user_frame_summary

if TYPE_CHECKING:
    # Tensor's methods `bool`, `int`, `float`, `type`, `dtype` and `device` shadow these names in
    # the class body, so annotations spell them through aliases.
    import builtins
    from collections.abc import Callable, Iterator, Sequence
    from typing import Self

    from .autograd.graph import Node, _RemovableHandle
    from .dtypes import dtype as _dtype
    from .tensor import device as _device  # `device` below, under a name the class does not shadow

_state = grad_mode.state
_ndarray = B.ndarray
_asarray = B.xp.asarray
_new = object.__new__

_TYPE_NAMES = {
    "float32": "torch.FloatTensor", "float64": "torch.DoubleTensor", "float16": "torch.HalfTensor",
    "int64": "torch.LongTensor", "int32": "torch.IntTensor", "int16": "torch.ShortTensor",
    "int8": "torch.CharTensor", "uint8": "torch.ByteTensor", "bool": "torch.BoolTensor",
}


def _check_multi_output_view(t, what):
    """PyTorch forbids in-place changes to outputs of split/unbind/chunk (and views of them)."""
    for step in t._view_chain:
        if step[2] >= 0:
            import re
            fn = t._grad_fn
            name = re.sub(r"Backward\d*$", "", fn.name()) if fn is not None else "a function"
            raise RuntimeError(
                f"Output {t._output_nr} of {name} is a view and {what}. This view is the output "
                "of a function that returns multiple views. Such functions do not allow the output "
                "views to be modified inplace. You should replace the inplace operation by an "
                "out-of-place one.")


_NOGRAD_VIEW_TAIL = (
    "Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify your "
    "code by moving both the view and the inplace either both inside the no_grad block (if you "
    "don't want the inplace to be tracked) or both outside (if you want the inplace to be tracked).")

# C++ type names and ScalarType names PyTorch uses in .grad assignment errors
_CPP_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
              "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
              "bool": "bool"}
_SCALAR_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                 "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _type_str(np_dtype) -> str:
    return _TYPE_NAMES.get(str(np_dtype), f"Tensor[{np_dtype}]")


_NONLEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
    "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
    "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
    "instead. See github.com/pytorch/pytorch/pull/30531 for more information."
)


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    >>> a = tapegrad.tensor([2., 3.], requires_grad=True)
    >>> (a * a).sum().backward()
    >>> a.grad
    tensor([4., 6.])
    """

    # Class-level defaults: a new tensor only sets what differs (cheap construction).
    _grad_fn = None
    _view_version = 0   # a view's grad_fn is stale once its storage's version moves past this
    _nograd_view = False  # a view made under no_grad of a tensor requiring grad
    _requires_grad = False
    _grad = None
    _vc = None          # VersionCounter, created on first need, shared with views
    _base = None        # the tensor whose storage this view shares
    _view_chain = ()    # view ops from _base to this tensor
    _output_nr = 0
    _hooks = None
    _post_acc_hooks = None
    _acc_ref = None
    _retains_grad = False
    _is_param = False

    # NumPy must hand `ndarray * tensor` back to Tensor.__rmul__ instead of looping.
    __array_ufunc__ = None
    __hash__ = object.__hash__

    def __new__(cls, *args, **kwargs):
        if cls is Tensor:
            # Legacy constructor: tapegrad.Tensor([1, 2]) / Tensor(2, 3) / Tensor() like torch.Tensor
            from .creation import _legacy_tensor
            return _legacy_tensor(*args, **kwargs)
        return _new(cls)

    @staticmethod
    def _wrap(data, grad_fn=None, output_nr=0):
        """Make a tensor around a backend array (no copy). Internal and hot: keep it lean."""
        t = _new(Tensor)
        if type(data) is not _ndarray:
            data = _asarray(data)
        t._data = data
        if grad_fn is not None:
            t._grad_fn = grad_fn
            t._requires_grad = True
            if output_nr:
                t._output_nr = output_nr
        return t

    # ------------------------------------------------------------------ metadata
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: builtins.int | None = None) -> Size | builtins.int:
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    @property
    def dtype(self) -> _dtype:
        return dtypes.from_np(self._data.dtype)

    @property
    def device(self) -> _device:
        return device("cpu")

    @property
    def is_cuda(self) -> builtins.bool:
        return False

    # Every tensor here is a dense CPU tensor; PyTorch code branches on these flags.
    is_xpu = is_mps = is_meta = is_quantized = is_sparse = is_mkldnn = is_cuda

    @property
    def is_cpu(self) -> builtins.bool:
        return True

    @property
    def ndim(self) -> builtins.int:
        return self._data.ndim

    def dim(self) -> builtins.int:
        return self._data.ndim

    ndimension = dim

    def numel(self) -> builtins.int:
        return self._data.size

    nelement = numel

    def element_size(self) -> builtins.int:
        return self._data.itemsize

    def stride(self, dim: builtins.int | None = None) -> tuple[builtins.int, ...] | builtins.int:
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[_wrap_dim(dim, self._data.ndim)]

    def is_contiguous(self, memory_format: Any = None) -> builtins.bool:
        return self._data.flags.c_contiguous

    def is_floating_point(self) -> builtins.bool:
        return self._data.dtype.kind == "f"

    def data_ptr(self) -> builtins.int:
        return self._data.__array_interface__["data"][0]

    @property
    def grad_fn(self) -> Node | None:
        base = self._base
        if base is not None and self._vc.value != self._view_version and base._requires_grad:
            if self._nograd_view:
                raise RuntimeError(
                    "A view was created in no_grad mode and its base or another view of its base "
                    "has been modified inplace with grad mode enabled. " + _NOGRAD_VIEW_TAIL)
            _check_multi_output_view(self, "its base or another view of its base has been "
                                     "modified inplace")
            return self._refresh_view_grad_fn()
        return self._grad_fn

    @grad_fn.setter
    def grad_fn(self, fn: Node | None) -> None:
        self._grad_fn = fn
        if self._base is not None:
            self._view_version = self._vc.value

    def _refresh_view_grad_fn(self):
        """A view whose storage was modified in place (through its base or another view)
        gets a new grad_fn: the view replayed on the base's current graph, as in PyTorch."""
        from .autograd.graph import replay_view
        prev = _state.enabled
        _state.enabled = True
        try:
            fresh = replay_view(self._base, self._view_chain)
        finally:
            _state.enabled = prev
        self._grad_fn = fresh._grad_fn
        self._output_nr = fresh._output_nr
        self._requires_grad = True
        self._view_version = self._vc.value
        return self._grad_fn

    @property
    def is_leaf(self) -> builtins.bool:
        return self.grad_fn is None

    @property
    def requires_grad(self) -> builtins.bool:
        if self._requires_grad:
            return True
        base = self._base  # PyTorch: a view requires grad when its base does
        return base is not None and base._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: builtins.bool) -> None:
        value = bool(value)
        if self.grad_fn is not None:
            raise RuntimeError(_leaf_flag_error(value))
        if value and self._data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        self._requires_grad = value

    def requires_grad_(self, requires_grad: builtins.bool = True) -> Self:
        requires_grad = bool(requires_grad)
        if self.grad_fn is not None:
            if requires_grad:
                return self  # PyTorch: a no-op on a non-leaf
            raise RuntimeError(_leaf_flag_error(False))
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = requires_grad
        return self

    @property
    def grad(self) -> Tensor | None:
        if self.grad_fn is not None and not self._retains_grad and self._grad is None:
            warnings.warn(_NONLEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    "assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{_CPP_NAMES.get(str(value._data.dtype))}' "
                    f"to a tensor with grad_dtype '{_SCALAR_NAMES.get(str(self._data.dtype))}'. "
                    "The gradient must match the tensor's grad_dtype (defaults to the tensor's "
                    "dtype). You can set the tensor's grad_dtype attribute with a specific dtype, "
                    "or None to allow any dtype. Set grad_dtype with caution. Diverging the dtypes "
                    "of a tensor and its gradient may break downstream systems that assume they "
                    "match.")
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value._data.shape)}' to a "
                    f"tensor of size '{list(self._data.shape)}'. Please ensure that the gradient "
                    "and the tensor are the same size")
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    @property
    def data(self) -> Tensor:
        """The same storage as a tensor outside the graph (with its own version counter)."""
        t = Tensor._wrap(self._data)
        if self._requires_grad:
            from .autograd.explain import note_cut  # for autograd.explain (not a hot path)
            note_cut(t, self, "data", ".data")
        return t

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        self._data = value._data

    @property
    def _version(self):
        return 0 if self._vc is None else self._vc.value

    @property
    def retains_grad(self) -> builtins.bool:
        return self._retains_grad

    @property
    def output_nr(self) -> builtins.int:
        return self._output_nr

    @property
    def T(self) -> Tensor:
        from .ops import shape
        return shape.permute(self, tuple(range(self._data.ndim - 1, -1, -1)))

    @property
    def mT(self) -> Tensor:
        return self.transpose(-2, -1)

    # ---------------------------------------------------------------- conversion
    def numpy(self, *, force: builtins.bool = False) -> Any:
        """The backend array itself (shares memory). Like torch, refuses tensors that require grad."""
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        if self._requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        a = self._data
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def item(self) -> builtins.int | builtins.float | builtins.bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.reshape(()).item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def _scalar(self):
        """The one element, for float()/int()/complex(): Python's ValueError otherwise (item()
        raises RuntimeError, as in PyTorch)."""
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self._data.reshape(()).item()

    def __float__(self) -> builtins.float:
        return float(self._scalar())

    def __int__(self) -> builtins.int:
        return int(self._scalar())

    def __index__(self) -> builtins.int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self) -> builtins.bool:
        if self._data.size != 1:
            raise RuntimeError(
                "Boolean value of Tensor with "
                f"{'no values' if self._data.size == 0 else 'more than one value'} is ambiguous"
            )
        return bool(self._data.reshape(()).item())

    def __complex__(self) -> complex:
        return complex(self._scalar())

    def __len__(self) -> builtins.int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __contains__(self, element: object) -> builtins.bool:
        if isinstance(element, (Tensor, int, float, bool)):
            return bool((self == element).any())
        raise RuntimeError(
            f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a {type(element)}.")

    def __repr__(self, *, tensor_contents=None):
        from . import _printing
        suffixes = []
        if self.grad_fn is not None:
            suffixes.append(f"grad_fn=<{self.grad_fn._bw_name}>")
        elif self.requires_grad:
            suffixes.append("requires_grad=True")
        return _printing.tensor_repr(self._data, self.dtype.name, None, suffixes)

    __str__ = __repr__

    def __format__(self, spec):
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __reduce_ex__(self, protocol):
        return (_rebuild, (self._data, self._requires_grad, type(self)))

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                "protocol at the moment.  If you were attempting to deepcopy a module, this may be "
                "because of a torch.nn.utils.weight_norm usage, see "
                "https://github.com/pytorch/pytorch/pull/103001")
        if id(self) in memo:
            return memo[id(self)]
        new = _rebuild(self._data.copy(), self._requires_grad, type(self))
        if self._grad is not None:
            new._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = new
        return new

    # ------------------------------------------------------------------ autograd
    def backward(self, gradient: Tensor | None = None, retain_graph: builtins.bool | None = None,
                 create_graph: builtins.bool = False,
                 inputs: Tensor | Sequence[Tensor] | None = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (a VJP with ``gradient``).

        >>> x = tapegrad.tensor([1., 2.], requires_grad=True)
        >>> (x ** 2).backward(gradient=tapegrad.ones(2))
        >>> x.grad
        tensor([2., 4.])
        """
        if inputs is not None:
            from .autograd import backward
            return backward(self, gradient, retain_graph, create_graph, inputs=inputs)
        from .autograd.engine import run_backward
        run_backward((self,), (gradient,), retain_graph, create_graph)

    def detach(self) -> Tensor:
        """A tensor sharing storage (and version counter) that is outside the graph."""
        t = Tensor._wrap(self._data)
        vc = self._vc
        if vc is None:
            vc = self._vc = VersionCounter()
        t._vc = vc
        if self._requires_grad or self._base is not None and self._base._requires_grad:
            from .autograd.explain import note_cut  # for autograd.explain (not a hot path)
            note_cut(t, self, "detach", "detach()")
        return t

    def detach_(self) -> Self:
        if self._base is not None:
            raise RuntimeError(
                "Can't detach views in-place. Use detach() instead. If you are using "
                "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is set as "
                "True, gradients are views of DDP buckets, and hence detach_() cannot be called on "
                "these gradients. To fix this error, please refer to the Optimizer.zero_grad() "
                "function in torch/optim/optimizer.py as the solution.")
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep the gradient of this non-leaf in ``.grad`` after backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return
        fn = self.grad_fn
        if fn._retained is None:
            fn._retained = {}
        fn._retained[self._output_nr] = weakref.ref(self)
        self._retains_grad = True

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> _RemovableHandle:
        """``hook(grad) -> Tensor or None`` runs when this tensor's gradient is computed.

        Returns a handle with ``.remove()``. On a leaf the hook runs before ``.grad`` is updated.
        """
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return self.grad_fn._register_tensor_hook(self._output_nr, hook)
        if self._hooks is None:
            self._hooks = []
        from .autograd.graph import _RemovableHandle
        self._hooks.append(hook)
        return _RemovableHandle(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> _RemovableHandle:
        """``hook(tensor)`` runs after a leaf's ``.grad`` has been updated by backward."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if self._post_acc_hooks is None:
            self._post_acc_hooks = []
        from .autograd.graph import _RemovableHandle
        self._post_acc_hooks.append(hook)
        return _RemovableHandle(self._post_acc_hooks, hook)

    # ------------------------------------------------------------------ in place
    def _check_inplace(self):
        if not _state.enabled:
            return
        if self.grad_fn is None and self._requires_grad:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation.")
        base = self._base
        if base is not None and self._nograd_view and base._requires_grad:
            raise RuntimeError(
                "A view was created in no_grad mode and is being modified inplace with grad mode "
                "enabled. " + _NOGRAD_VIEW_TAIL)
        if base is not None and base.grad_fn is None and base._requires_grad:
            raise RuntimeError(
                "a view of a leaf Variable that requires grad is being used in an in-place operation.")
        if base is not None and base._requires_grad:
            _check_multi_output_view(self, "is being modified inplace")

    def _bump_version(self, op_name):
        """Count an in-place write that needs no source location (e.g. grad accumulation)."""
        vc = self._vc
        if vc is None:
            vc = self._vc = VersionCounter()
        vc.value += 1
        vc.last_op = op_name
        vc.where = None

    def _record_inplace(self, op_name):
        """Bump the version and remember which in-place op ran where (for error messages)."""
        vc = self._vc
        if vc is None:
            # No node saved this storage and no view or detached alias shares it (each creates
            # the counter), so no error can name this write: skip the frame walk (a frozen
            # ResNet-18's in-place ReLUs: about 2 ms of a 55 ms step).
            vc = self._vc = VersionCounter()
            vc.value, vc.last_op = 1, op_name
            return
        vc.value += 1
        vc.last_op = op_name
        vc.where = user_frame_summary() if vc.saved else None

    def _set_from(self, result, op_name):
        """Finish an in-place op: write ``result`` into this storage and take over its graph."""
        from .ops import inplace
        inplace.commit(self, result, op_name)
        return self

    # ------------------------------------------------------------------ device / dtype
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(other)``; only the CPU device exists in this build."""
        from .ops.elementwise import to_dtype
        dtype = kwargs.pop("dtype", None)
        dev = kwargs.pop("device", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for key, val, ok in (("dtype", dtype, dtypes.dtype), ("device", dev, (str, int, device))):
            if val is not None and not isinstance(val, ok) and val not in (float, int, bool):
                raise TypeError(f"to() received an invalid combination of arguments - got "
                                f"({key}={type(val).__name__}, )")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, dtypes.dtype) or (isinstance(a, type) and a in (float, int, bool)):
                dtype = a
            elif isinstance(a, (str, device)):
                dev = a
            elif a is None:
                continue
            else:
                try:
                    dtype = dtypes.as_dtype(a)
                except TypeError:
                    raise TypeError(f"to() received an invalid combination of arguments: {a!r}") from None
        B.check_device(dev)
        if dtype is None or dtypes.as_dtype(dtype).np == self._data.dtype:
            return self.clone() if copy else self
        return to_dtype(self, dtypes.as_dtype(dtype))

    def cpu(self) -> Self:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        B.check_device("cuda")

    def type(self, dtype: _dtype | str | type | None = None) -> str | Tensor:
        """``'torch.FloatTensor'``, or this tensor cast to a type name, legacy class or dtype."""
        from . import _legacy
        if dtype is None:
            return _legacy.type_name(self._data.dtype) or _type_str(self._data.dtype)
        return self.to(_legacy.dtype_of(dtype))

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def short(self) -> Tensor:
        return self.to(dtypes.int16)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def byte(self) -> Tensor:
        return self.to(dtypes.uint8)

    def char(self) -> Tensor:
        return self.to(dtypes.int8)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def new_tensor(self, data: Any, dtype: _dtype | None = None,
                   requires_grad: builtins.bool = False) -> Tensor:
        from .creation import tensor
        return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_zeros(self, *size: builtins.int | Sequence[builtins.int], dtype: _dtype | None = None,
                  requires_grad: builtins.bool = False) -> Tensor:
        from .creation import zeros
        return zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_ones(self, *size: builtins.int | Sequence[builtins.int], dtype: _dtype | None = None,
                 requires_grad: builtins.bool = False) -> Tensor:
        from .creation import ones
        return ones(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_full(self, size: builtins.int | Sequence[builtins.int],
                 fill_value: builtins.int | builtins.float | builtins.bool | Tensor,
                 dtype: _dtype | None = None, requires_grad: builtins.bool = False) -> Tensor:
        from .creation import full
        return full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_empty(self, *size: builtins.int | Sequence[builtins.int], dtype: _dtype | None = None,
                  requires_grad: builtins.bool = False) -> Tensor:
        from .creation import empty
        return empty(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _leaf_flag_error(value):
    msg = "you can only change requires_grad flags of leaf variables."
    if not value:
        msg += (" If you want to use a computed variable in a subgraph that doesn't require "
                "differentiation use var_no_grad = var.detach().")
    return msg


def _rebuild(data, requires_grad, cls=Tensor):
    t = Tensor._wrap(data)
    if cls is not Tensor:
        t.__class__ = cls
    t._requires_grad = requires_grad
    return t


def _wrap_dim(dim, ndim):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


class Size(tuple):
    """``tensor.shape``: a tuple that prints as ``torch.Size([2, 3])``."""

    def __repr__(self):
        return f"torch.Size({list(self)})"

    __str__ = __repr__

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, item):
        r = tuple.__getitem__(self, item)
        return Size(r) if isinstance(item, slice) else r

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))

    def __radd__(self, other):
        return Size(tuple(other) + tuple(self))


class device:
    """A device descriptor, ``device('cuda:1')`` or ``device('cuda', 1)``, as PyTorch parses it.

    Any device type PyTorch knows can be named (so code that builds ``device('cuda')``
    behind an ``is_available()`` guard runs); only ``cpu`` can hold data in this build, and
    moving data elsewhere raises what a CPU-only PyTorch raises.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str | device | builtins.int = "cpu", index: builtins.int | None = None) -> None:
        import builtins as _b
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device(): argument 'type' (position 1) must be str, not torch.device")
            type, index = type.type, type.index
        elif isinstance(type, _b.int) and not isinstance(type, _b.bool):
            # a bare index means the current accelerator, and there is none
            raise RuntimeError("Cannot access accelerator device when none is available.")
        elif not isinstance(type, str):
            raise TypeError(f"device() received an invalid combination of arguments - got "
                            f"({_b.type(type).__name__}), but expected one of:\n"
                            " * (torch.device device)\n * (str type, int index = -1)\n")
        if index is not None and (not isinstance(index, _b.int) or isinstance(index, _b.bool)):
            raise TypeError(f"device(): argument 'index' (position 2) must be int, not "
                            f"{_b.type(index).__name__}")
        kind, parsed = B.parse_device(type)
        if index is not None:
            if parsed is not None:
                raise RuntimeError(f"type (string) must not include an index because index was "
                                   f"passed explicitly: {type}")
            if index < 0:
                raise RuntimeError("Device index must not be negative")
            parsed = index
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "index", parsed)

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        # PyTorch compares devices only with devices: device('cpu') == 'cpu' is False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self.type,) if self.index is None else (self.type, self.index))

"""Bad input, compared with PyTorch: the same wrong call must fail the same way.

Each row is a call that PyTorch refuses (wrong shapes, dtypes, Python types, negative
or zero sizes, empty tensors, out-of-range dims and indices). The row runs in torch and
in tapegrad; both must raise, with the same exception class, and

* with no key words given, the same first line of the message;
* with key words, each of them in both messages (the torch side proves the key words
  are torch's own, so a row cannot drift from what torch says).

Whatever the row, the exception must not come out of NumPy: its innermost frame must be
tapegrad's (or the test's), and its message must not be one of NumPy's.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402

ROWS = []


def bad(name, fn, *keys):
    """A row: ``fn(L)`` must raise in torch and in tapegrad alike (see the module docstring)."""
    ROWS.append(pytest.param(fn, keys, id=name))


def T(L, *shape, dtype=None, grad=False):
    """``ones`` of ``shape`` (float32 unless ``dtype`` names another: 'f64', 'i64', 'bool')."""
    dt = {None: L.float32, "f64": L.float64, "i64": L.int64, "i32": L.int32, "bool": L.bool}[dtype]
    return L.ones(*shape, dtype=dt, requires_grad=grad)


def I(L, *values):  # noqa: E743 - reads as an int64 tensor literal in the tables
    return L.tensor(list(values), dtype=L.int64)


def M(L, *values):
    return L.tensor(list(values), dtype=L.bool)


def F(L):
    return L.nn.functional


# --------------------------------------------------------------------------- creation
bad("zeros_dtype_str", lambda L: L.zeros(2, dtype="float32"))
bad("zeros_dtype_numpy", lambda L: L.zeros(2, dtype=np.float32))
bad("ones_dtype_int", lambda L: L.ones(2, dtype=3))
bad("empty_dtype_str", lambda L: L.empty(2, dtype="float64"))
bad("full_dtype_str", lambda L: L.full((2,), 1.0, dtype="float32"))
bad("tensor_dtype_str", lambda L: L.tensor([1.0], dtype="float32"))
bad("as_tensor_dtype_str", lambda L: L.as_tensor([1.0], dtype="float32"))
bad("zeros_like_dtype_str", lambda L: L.zeros_like(T(L, 2), dtype="float32"))
bad("ones_like_dtype_str", lambda L: L.ones_like(T(L, 2), dtype="int64"))
bad("arange_dtype_str", lambda L: L.arange(0, 3, dtype="float32"), "dtype")
bad("linspace_dtype_str", lambda L: L.linspace(0, 1, 3, dtype="float32"), "dtype")
bad("randn_dtype_str", lambda L: L.randn(2, dtype="float32"), "dtype")
bad("rand_dtype_str", lambda L: L.rand(2, dtype="float64"), "dtype")
bad("eye_dtype_str", lambda L: L.eye(2, dtype="float32"), "dtype")
bad("randint_dtype_str", lambda L: L.randint(0, 3, (2,), dtype="int64"), "dtype")
bad("ones_device_float", lambda L: L.ones(2, device=3.5))
bad("tensor_device_float", lambda L: L.tensor([1.0], device=1.5))
bad("zeros_neg", lambda L: L.zeros(-1))
bad("zeros_neg_2d", lambda L: L.zeros(2, -1))
bad("ones_neg", lambda L: L.ones(-1))
bad("ones_neg_tuple", lambda L: L.ones((2, -1)))
bad("empty_neg", lambda L: L.empty(2, -3))
bad("rand_neg", lambda L: L.rand(2, -1, 3))
bad("randn_neg", lambda L: L.randn(-1))
bad("full_neg", lambda L: L.full((2, -1), 2.0))
bad("randint_neg", lambda L: L.randint(0, 3, (-1,)))
bad("randperm_neg", lambda L: L.randperm(-1))
bad("eye_neg", lambda L: L.eye(-1))
bad("eye_neg_m", lambda L: L.eye(2, -1))
bad("ones_size_float", lambda L: L.ones(2.5))
bad("ones_size_str", lambda L: L.ones("a"))
bad("linspace_neg_steps", lambda L: L.linspace(0, 1, -1))
bad("arange_step0", lambda L: L.arange(0, 3, 0))
bad("arange_wrong_sign", lambda L: L.arange(0, 3, -1))
bad("randint_low_ge_high", lambda L: L.randint(3, 3, (2,)))

# --------------------------------------------------------------------------- conversion
bad("float_of_3", lambda L: float(T(L, 3)))
bad("int_of_3", lambda L: int(T(L, 3)))
bad("complex_of_2", lambda L: complex(T(L, 2)))
bad("float_of_empty", lambda L: float(T(L, 0)))
bad("item_of_2", lambda L: T(L, 2).item())
bad("bool_of_2", lambda L: bool(T(L, 2)))
bad("bool_of_empty", lambda L: bool(T(L, 0)))
bad("len_of_0d", lambda L: len(L.tensor(1.0)))
bad("iter_of_0d", lambda L: iter(L.tensor(1.0)))
bad("type_str_unknown", lambda L: T(L, 2).type("float32"))
bad("to_dtype_str", lambda L: T(L, 2).to(dtype="float32"), "to() received an invalid combination")
bad("index_float_tensor", lambda L: [1, 2, 3][T(L, 1).sum()], "converted to an index")
bad("requires_grad_int", lambda L: I(L, 1, 2).requires_grad_())

# --------------------------------------------------------------------------- indexing
bad("mask_getitem_short", lambda L: T(L, 3)[M(L, True, False)])
bad("mask_getitem_long", lambda L: T(L, 2)[M(L, True, False, True)])
bad("mask_getitem_2d", lambda L: T(L, 3, 4)[L.ones(3, 3, dtype=L.bool)])
bad("mask_getitem_dim1", lambda L: T(L, 3, 4)[:, M(L, True, False)])
bad("mask_getitem_after_ellipsis", lambda L: T(L, 3, 4)[..., M(L, True, False, True)])
bad("mask_getitem_after_int", lambda L: T(L, 2, 3, 4)[0, M(L, True, False)])
bad("mask_getitem_uint8", lambda L: T(L, 3)[L.tensor([1, 0], dtype=L.uint8)], "mask", "[2]", "[3]")
bad("mask_setitem_short", lambda L: T(L, 3).__setitem__(M(L, True, False), 1.0))
bad("mask_setitem_grad", lambda L: (T(L, 3, grad=True) * 1).__setitem__(M(L, True, False), 1.0))
bad("mask_setitem_tensor_value", lambda L: T(L, 2, 3).__setitem__(M(L, True), T(L, 3)))
bad("masked_select_shapes", lambda L: L.masked_select(T(L, 3), M(L, True, False)))
bad("masked_select_float_mask", lambda L: L.masked_select(T(L, 3), T(L, 3)), "masked_select", "Bool")
bad("index_put_mask_short", lambda L: T(L, 3).index_put_((M(L, True, False),), L.tensor(1.0)))
bad("index_put_oob", lambda L: T(L, 3).index_put((I(L, 5),), L.tensor(1.0)), "out of bounds")
bad("index_int_oob", lambda L: T(L, 3)[5])
bad("index_int_neg_oob", lambda L: T(L, 3)[-4])
bad("index_int_oob_dim1", lambda L: T(L, 2, 3)[:, 3])
bad("index_list_oob", lambda L: T(L, 3)[[0, 5]], "out of bounds", "size 3")
bad("index_tensor_oob", lambda L: T(L, 3)[I(L, 0, 3)], "out of bounds", "size 3")
bad("index_too_many", lambda L: T(L, 2, 2)[0, 0, 0])
bad("index_0d", lambda L: L.tensor(1.0)[0])
bad("index_float_tensor_idx", lambda L: T(L, 3)[T(L, 1)])
bad("index_str", lambda L: T(L, 3)["a"])
bad("mask_getitem_after_none", lambda L: T(L, 3, 4)[None, M(L, True, False)])
bad("mask_getitem_after_index", lambda L: T(L, 3, 4)[I(L, 0, 1), M(L, True, False, True, False, True)])
bad("mask_getitem_3x1", lambda L: T(L, 3, 4)[L.ones(3, 1, dtype=L.bool)])
bad("mask_getitem_too_many_dims", lambda L: T(L, 3)[L.ones(3, 3, dtype=L.bool)])
bad("index_float", lambda L: T(L, 3)[1.5], "only integers, slices")
bad("setitem_oob", lambda L: T(L, 3).__setitem__(5, 1.0))
bad("setitem_shape", lambda L: T(L, 2, 3).__setitem__(0, T(L, 4)), "expand", "[4]", "[3]")
bad("gather_oob", lambda L: L.gather(T(L, 2, 3), 1, I(L, 0, 3).reshape(1, 2)), "out of bounds")
bad("gather_float_index", lambda L: L.gather(T(L, 2, 3), 1, T(L, 1, 2)))
bad("gather_ndim", lambda L: L.gather(T(L, 2, 3), 1, I(L, 0)))
bad("gather_dim_oob", lambda L: L.gather(T(L, 2, 3), 2, I(L, 0).reshape(1, 1)))
bad("index_select_oob", lambda L: L.index_select(T(L, 3), 0, I(L, 3)))
bad("index_select_2d_index", lambda L: L.index_select(T(L, 3), 0, I(L, 0, 1).reshape(1, 2)))
bad("index_select_float_index", lambda L: L.index_select(T(L, 3), 0, T(L, 1)))
bad("scatter_oob", lambda L: T(L, 3).scatter(0, I(L, 5), 2.0), "out of bounds")
bad("take_oob", lambda L: L.take(T(L, 2, 2), I(L, 4)))
bad("masked_fill_float_mask", lambda L: T(L, 3).masked_fill(T(L, 3), 0.0))
bad("masked_fill_shapes", lambda L: T(L, 3).masked_fill(M(L, True, False), 0.0),
    "must match the size")
bad("masked_fill_value_1d", lambda L: T(L, 3).masked_fill(M(L, True, False, True), T(L, 2)))

# --------------------------------------------------------------------------- matmul family
bad("matmul_dtype", lambda L: T(L, 2, 3) @ T(L, 3, 2, dtype="f64"))
bad("matmul_dtype_batched", lambda L: L.matmul(T(L, 2, 2, 3), T(L, 3, 2, dtype="f64")))
bad("matmul_dtype_int", lambda L: L.matmul(T(L, 2, 3), T(L, 3, 2, dtype="i64")))
bad("matmul_dtype_vec", lambda L: L.matmul(T(L, 3), T(L, 3, dtype="f64")))
bad("matmul_shapes", lambda L: T(L, 2, 3) @ T(L, 2, 3))
bad("matmul_0d", lambda L: L.matmul(L.tensor(1.0), T(L, 2)))
bad("mm_dtype", lambda L: L.mm(T(L, 2, 3), T(L, 3, 2, dtype="f64")))
bad("mm_dtype_int_first", lambda L: L.mm(T(L, 2, 3, dtype="i64"), T(L, 3, 2)))
bad("mm_str", lambda L: L.mm(T(L, 2, 2), "a"))
bad("matmul_dtype_mat_vec", lambda L: L.matmul(T(L, 2, 3), T(L, 3, dtype="f64")))
bad("matmul_dtype_vec_mat", lambda L: L.matmul(T(L, 3, dtype="f64"), T(L, 3, 2)))
bad("matmul_dtype_batch_vec", lambda L: L.matmul(T(L, 2, 2, 3), T(L, 3, dtype="f64")))
bad("matmul_dtype_mat_batch", lambda L: L.matmul(T(L, 2, 3), T(L, 2, 3, 2, dtype="f64")))
bad("matmul_shape_before_dtype", lambda L: L.matmul(T(L, 2, 3), T(L, 2, 3, dtype="f64")))
bad("mm_shapes", lambda L: L.mm(T(L, 2, 3), T(L, 2, 3)))
bad("mm_1d", lambda L: L.mm(T(L, 3), T(L, 3, 2)))
bad("bmm_dtype", lambda L: L.bmm(T(L, 1, 2, 3), T(L, 1, 3, 2, dtype="f64")))
bad("bmm_2d", lambda L: L.bmm(T(L, 2, 3), T(L, 1, 3, 2)))
bad("bmm_batch", lambda L: L.bmm(T(L, 2, 2, 3), T(L, 3, 3, 2)))
bad("bmm_inner", lambda L: L.bmm(T(L, 1, 2, 3), T(L, 1, 2, 2)))
bad("addmm_dtype_mat2", lambda L: L.addmm(T(L, 2, 2), T(L, 2, 3), T(L, 3, 2, dtype="f64")))
bad("addmm_dtype_self", lambda L: L.addmm(T(L, 2, 2, dtype="f64"), T(L, 2, 3), T(L, 3, 2)))
bad("addmm_shapes", lambda L: L.addmm(T(L, 2, 2), T(L, 2, 3), T(L, 2, 3)))
bad("addmm_dtype_mat1", lambda L: L.addmm(T(L, 2, 2), T(L, 2, 3, dtype="f64"), T(L, 3, 2)))
bad("addmm_1d", lambda L: L.addmm(T(L, 2, 2), T(L, 3), T(L, 3, 2)))
bad("bmm_dtype_double_first", lambda L: L.bmm(T(L, 1, 2, 3, dtype="f64"), T(L, 1, 3, 2)))
bad("mv_dtype_double_mat", lambda L: L.mv(T(L, 2, 3, dtype="f64"), T(L, 3)))
bad("mv_3d", lambda L: L.mv(T(L, 2, 3, 1), T(L, 3)))
bad("vdot_dtype", lambda L: L.vdot(T(L, 3), T(L, 3, dtype="f64")))
bad("dot_str", lambda L: L.dot(T(L, 3), "a"))
bad("linear_dtype_double_input", lambda L: F(L).linear(T(L, 2, 3, dtype="f64"), T(L, 2, 3)))
bad("linear_dtype_vec_input", lambda L: F(L).linear(T(L, 3), T(L, 2, 3, dtype="f64")))
bad("linear_bias_int", lambda L: F(L).linear(T(L, 2, 3), T(L, 2, 3), T(L, 2, dtype="i64")))
bad("linear_bias_str", lambda L: F(L).linear(T(L, 2, 3), T(L, 2, 3), "b"))
bad("mv_dtype", lambda L: L.mv(T(L, 2, 3), T(L, 3, dtype="f64")))
bad("mv_shapes", lambda L: L.mv(T(L, 2, 3), T(L, 2)))
bad("dot_dtype", lambda L: L.dot(T(L, 3), T(L, 3, dtype="f64")))
bad("dot_2d", lambda L: L.dot(T(L, 2, 3), T(L, 3)))
bad("dot_sizes", lambda L: L.dot(T(L, 3), T(L, 2)))
bad("linear_dtype", lambda L: F(L).linear(T(L, 2, 3), T(L, 2, 3, dtype="f64")))
bad("linear_bias_dtype", lambda L: F(L).linear(T(L, 2, 3), T(L, 2, 3), T(L, 2, dtype="f64")))
bad("linear_shapes", lambda L: F(L).linear(T(L, 2, 3), T(L, 2, 4)))
bad("linear_str", lambda L: F(L).linear("abc", T(L, 2, 2)))
bad("linear_weight_str", lambda L: F(L).linear(T(L, 2, 2), "abc"))
bad("conv1d_dtype", lambda L: F(L).conv1d(T(L, 1, 1, 5), T(L, 1, 1, 3, dtype="f64")))
bad("conv2d_dtype", lambda L: F(L).conv2d(T(L, 1, 1, 5, 5), T(L, 1, 1, 3, 3, dtype="f64")))
bad("conv2d_dtype_double_input", lambda L: F(L).conv2d(T(L, 1, 1, 5, 5, dtype="f64"), T(L, 1, 1, 3, 3)))
bad("conv2d_bias_dtype", lambda L: F(L).conv2d(T(L, 1, 1, 5, 5), T(L, 1, 1, 3, 3), T(L, 1, dtype="f64")))
bad(
    "conv_transpose2d_dtype", lambda L: F(L).conv_transpose2d(T(L, 1, 1, 5, 5), T(L, 1, 1, 3, 3, dtype="f64"))
)
bad("conv2d_channels", lambda L: F(L).conv2d(T(L, 1, 2, 5, 5), T(L, 1, 1, 3, 3)))
bad("conv2d_ndim", lambda L: F(L).conv2d(T(L, 5, 5), T(L, 1, 1, 3, 3)))
bad("conv2d_kernel_too_big", lambda L: F(L).conv2d(T(L, 1, 1, 2, 2), T(L, 1, 1, 3, 3)))
bad("conv2d_str", lambda L: F(L).conv2d("abc", T(L, 1, 1, 3, 3)), "conv2d()")
bad("conv1d_bias_dtype", lambda L: F(L).conv1d(T(L, 1, 1, 5), T(L, 1, 1, 3), T(L, 1, dtype="f64")))
bad("conv_transpose2d_dtype_double_input",
    lambda L: F(L).conv_transpose2d(T(L, 1, 1, 5, 5, dtype="f64"), T(L, 1, 1, 3, 3)))
bad("conv2d_padding_str", lambda L: F(L).conv2d(T(L, 1, 1, 5, 5), T(L, 1, 1, 3, 3), padding="full"))
bad("conv_transpose2d_channels", lambda L: F(L).conv_transpose2d(T(L, 1, 2, 5, 5), T(L, 1, 1, 3, 3)))

# --------------------------------------------------------------------------- elementwise
bad("add_shapes", lambda L: T(L, 2) + T(L, 3))
bad("mul_shapes_2d", lambda L: T(L, 2, 3) * T(L, 3, 2))
bad("where_shapes", lambda L: L.where(M(L, True, False), T(L, 3), T(L, 3)))
bad("maximum_shapes", lambda L: L.maximum(T(L, 2), T(L, 3)))
bad("exp_str", lambda L: L.exp("abc"))
bad("relu_str", lambda L: L.relu("abc"))
bad("add_str", lambda L: T(L, 2) + "a", "unsupported operand")
bad("add_list", lambda L: L.add(T(L, 2), "a"), "add")
bad("clamp_no_bounds", lambda L: L.clamp(T(L, 2)))
bad("sub_bool", lambda L: M(L, True) - M(L, False), "Subtraction", "bool")
bad("neg_bool", lambda L: -M(L, True), "Negation", "bool")
bad("bitwise_float", lambda L: T(L, 2) & T(L, 2), "bitwise_and")
bad("gcd_float", lambda L: L.gcd(T(L, 2), T(L, 2, dtype="i64")), "gcd_cpu", "Float")
bad("lcm_bool", lambda L: L.lcm(T(L, 2, dtype="bool"), T(L, 2, dtype="bool")), "lcm_cpu", "Bool")
bad("gcd_int_other", lambda L: L.gcd(T(L, 2, dtype="i64"), 2), "must be Tensor, not int")
bad("ldexp_int_other", lambda L: L.ldexp(T(L, 2), 2), "must be Tensor, not int")
bad("repeat_interleave_float_counts", lambda L: L.repeat_interleave(T(L, 3)), "repeat_interleave_cpu",
    "Float")
bad("repeat_interleave_2d_counts", lambda L: L.repeat_interleave(T(L, 2, 2, dtype="i64")), "only accept 1D")
bad("repeat_interleave_negative", lambda L: L.repeat_interleave(T(L, 3), -1), "non-negative")
bad("repeat_interleave_length", lambda L: L.repeat_interleave(T(L, 3), T(L, 2, dtype="i64")), "same size")
bad("repeat_interleave_none", lambda L: L.repeat_interleave(T(L, 3), None), "invalid combination")
bad("take_along_dim_ndim", lambda L: L.take_along_dim(T(L, 2, 3), T(L, 2, dtype="i64"), 1), "same number of")
bad("rot90_same_dims", lambda L: L.rot90(T(L, 2, 3), 1, (0, 0)), "rotation dims to be different")
bad("diff_0d", lambda L: L.diff(L.ones(())), "at least one-dimensional")
bad("ones_without_size", lambda L: L.ones(), 'missing 1 required positional arguments: "size"')
bad("randn_without_size", lambda L: L.randn(), "invalid combination of arguments - got ()")
bad("positive_bool", lambda L: L.positive(T(L, 2, dtype="bool")), "bool tensor")
bad("median_bool", lambda L: L.median(T(L, 3, dtype="bool")), "median_cpu", "Bool")
bad("median_empty_dim", lambda L: L.median(T(L, 3, 0), 1), "non-zero size")
bad("quantile_int", lambda L: L.quantile(T(L, 3, dtype="i64"), 0.5), "float or double")
bad("quantile_q_range", lambda L: L.quantile(T(L, 3), 1.5), "range [0, 1] but got 1.5")
bad("quantile_q_tensor_range", lambda L: L.quantile(T(L, 3), T(L, 2) * 2), "q values must be in the range")
bad("quantile_q_dtype", lambda L: L.quantile(T(L, 3), T(L, 1, dtype="f64")), "same dtype")
bad("quantile_q_2d", lambda L: L.quantile(T(L, 3), T(L, 1, 1) * 0.5), "scalar or 1D")
bad("quantile_interpolation", lambda L: L.quantile(T(L, 3), 0.5, interpolation="foo"),
    "interpolation must be")
bad("quantile_empty", lambda L: L.quantile(T(L, 0), 0.5), "non-empty")
bad("hsplit_indivisible", lambda L: L.hsplit(T(L, 3, 4), 3), "not divisible by the split_size 3")
bad("vsplit_1d", lambda L: L.vsplit(T(L, 3), 1), "at least 2 dimension")
bad("column_stack_empty", lambda L: L.column_stack([]), "non-empty TensorList")
bad("dstack_empty", lambda L: L.dstack([]), "non-empty TensorList")
bad("dsplit_2d", lambda L: L.dsplit(T(L, 2, 3), 1), "at least 3 dimension")
bad("isin_two_numbers", lambda L: L.isin(2, 3), "invalid combination of arguments - got (int, int)")
bad("bincount_negative", lambda L: L.bincount(I(L, -1, 2)), "non-negative integral")
bad("bincount_float", lambda L: L.bincount(T(L, 2)), "bincount_cpu", "Float")
bad("bincount_weights_length", lambda L: L.bincount(I(L, 0, 1), T(L, 3)), "same length as input")
bad("bincount_minlength", lambda L: L.bincount(I(L, 0, 1), minlength=-1), "minlength should be >= 0")
bad("cov_3d", lambda L: L.cov(T(L, 2, 2, 2)), "two or fewer dimensions")
bad("cov_fweights_float", lambda L: L.cov(T(L, 2, 3), fweights=T(L, 3)), "fweights to have integral dtype")
bad("cov_fweights_numel", lambda L: L.cov(T(L, 2, 3), fweights=I(L, 1, 1)), "same numel", "2 != 3")
bad("cov_fweights_negative", lambda L: L.cov(T(L, 2, 3), fweights=I(L, 1, -1, 1)),
    "fweights cannot be negative")
bad("cov_fweights_2d", lambda L: L.cov(T(L, 2, 3), fweights=T(L, 1, 3, dtype="i64")),
    "one or fewer dimensions")
bad("cov_aweights_int", lambda L: L.cov(T(L, 2, 3), aweights=I(L, 1, 1, 1)),
    "aweights to have floating point")
bad("cov_aweights_negative", lambda L: L.cov(T(L, 2, 3), aweights=T(L, 3) * -1),
    "aweights cannot be negative")
bad("trapezoid_x_length", lambda L: L.trapezoid(T(L, 3), T(L, 4)), "one `x` value for each sample point")
bad("cumulative_trapezoid_x_length", lambda L: L.cumulative_trapezoid(T(L, 3, 2), T(L, 4), dim=0),
    "one `x` value for each sample point")
bad("tile_int_dims", lambda L: L.tile(T(L, 2), 2), "must be tuple of ints, not int")
bad("rot90_one_dim", lambda L: L.rot90(T(L, 2, 2), 1, (0,)), "rotation dims == 2")
bad("rot90_1d", lambda L: L.rot90(T(L, 2), 1, (0, 1)), "total dims >= 2")
bad("inplace_promote", lambda L: I(L, 1, 2).add_(1.5), "result type Float", "Long")
bad("inplace_broadcast_self", lambda L: T(L, 1).add_(T(L, 3)))
bad("inplace_leaf", lambda L: T(L, 2, grad=True).mul_(2), "a leaf Variable that requires grad")

# --------------------------------------------------------------------------- reductions
bad("argmax_empty", lambda L: T(L, 0).argmax())
bad("argmin_empty", lambda L: T(L, 0).argmin())
bad("amax_all_empty", lambda L: L.amax(T(L, 0)))
bad("argmax_str", lambda L: L.argmax("a"), "argmax()")
bad("max_empty", lambda L: T(L, 0).max())
bad("min_empty", lambda L: L.min(T(L, 0)))
bad("max_dim_empty", lambda L: T(L, 0, 2).max(dim=0))
bad("amax_empty", lambda L: L.amax(T(L, 0, 2), dim=0))
bad("argmax_dim_empty", lambda L: T(L, 0, 2).argmax(dim=0))
bad("sum_dim_oob", lambda L: T(L, 2, 3).sum(dim=2))
bad("sum_dim_oob_neg", lambda L: T(L, 2, 3).sum(dim=-3))
bad("mean_int", lambda L: I(L, 1, 2).mean())
bad("mean_dim_oob", lambda L: T(L, 2).mean(1))
bad("softmax_dim_oob", lambda L: L.softmax(T(L, 2, 3), dim=2))
bad("log_softmax_dim_oob", lambda L: L.log_softmax(T(L, 2, 3), dim=-3))
bad("cumsum_dim_oob", lambda L: T(L, 2).cumsum(1))
bad("var_dim_oob", lambda L: T(L, 2).var(1))
bad("prod_dim_oob", lambda L: T(L, 2).prod(1))
bad("logsumexp_dim_oob", lambda L: L.logsumexp(T(L, 2), 1))
bad("norm_dim_oob", lambda L: T(L, 2).norm(dim=1))
bad("sum_dim_dup", lambda L: T(L, 2, 3).sum(dim=(0, 0)))
bad("sum_dim_float", lambda L: T(L, 2, 3).sum(dim=0.5), "dim")
bad("max_dim_oob", lambda L: T(L, 2).max(dim=1))

# --------------------------------------------------------------------------- shapes
bad("reshape_size", lambda L: T(L, 2, 3).reshape(4, 2))
bad("reshape_two_minus1", lambda L: T(L, 2, 3).reshape(-1, -1))
bad("view_size", lambda L: T(L, 6).view(4, 2))
bad("view_neg", lambda L: T(L, 6).view(-2, 3))
bad("permute_len", lambda L: T(L, 2, 3).permute(0),
    "number of dimensions in the tensor input does not match the length of the desired ordering")
bad("permute_dup", lambda L: T(L, 2, 3).permute(0, 0))
bad("permute_oob", lambda L: T(L, 2, 3).permute(0, 2))
bad("transpose_oob", lambda L: T(L, 2, 3).transpose(0, 2))
bad("squeeze_oob", lambda L: T(L, 2).squeeze(1))
bad("unsqueeze_oob", lambda L: T(L, 2).unsqueeze(2))
bad("flatten_start_gt_end", lambda L: T(L, 2, 3, 4).flatten(2, 1))
bad("cat_ndim", lambda L: L.cat([T(L, 2), T(L, 2, 2)]))
bad("cat_sizes", lambda L: L.cat([T(L, 2, 3), T(L, 2, 4)]))
bad("cat_empty_list", lambda L: L.cat([]))
bad("cat_dim_oob", lambda L: L.cat([T(L, 2), T(L, 2)], dim=1))
bad("stack_sizes", lambda L: L.stack([T(L, 2), T(L, 3)]))
bad("stack_empty", lambda L: L.stack([]))
bad("split_zero", lambda L: T(L, 4).split(0), "split_size")
bad("chunk_zero", lambda L: T(L, 4).chunk(0))
bad("expand_size", lambda L: T(L, 2).expand(3))
bad("expand_fewer_dims", lambda L: T(L, 2, 3).expand(3))
bad("repeat_fewer_dims", lambda L: T(L, 2, 3).repeat(2))
bad("narrow_oob", lambda L: T(L, 3).narrow(0, 2, 2))
bad("select_oob", lambda L: T(L, 3).select(0, 3))
bad("unbind_dim_oob", lambda L: T(L, 3).unbind(1))
bad("flip_dup", lambda L: T(L, 2, 3).flip((0, 0)))
bad("roll_dim_oob", lambda L: T(L, 3).roll(1, 1))
bad("movedim_oob", lambda L: T(L, 2, 3).movedim(0, 2))
bad("movedim_unequal_dim_lists", lambda L: L.movedim(T(L, 2, 3, 4), (0, 1), (2,)))
bad("tensordot_unequal_dim_lists", lambda L: L.tensordot(T(L, 2, 3), T(L, 2, 3), dims=([0, 1], [0])))

# --------------------------------------------------------------------------- nn.functional
bad("nll_loss_target_size", lambda L: F(L).nll_loss(L.randn(2, 3, 4), I(L, 0, 1)))
bad("cross_entropy_target_size", lambda L: F(L).cross_entropy(L.randn(2, 3, 4), I(L, 0, 1)))
bad("nll_loss_batch_mismatch", lambda L: F(L).nll_loss(L.randn(2, 3), I(L, 0, 1, 2)))
bad("cross_entropy_batch_mismatch", lambda L: F(L).cross_entropy(L.randn(3, 3), I(L, 0, 1)))
bad("cross_entropy_target_oob", lambda L: F(L).cross_entropy(L.randn(2, 3), I(L, 0, 5)))
bad("nll_loss_target_oob", lambda L: F(L).nll_loss(L.randn(2, 3), I(L, 0, 3)))
bad("nll_loss_float_target", lambda L: F(L).nll_loss(L.randn(2, 3), T(L, 2)))
bad("nll_loss_1d_input", lambda L: F(L).nll_loss(L.randn(3), I(L, 0, 1)))
bad("nll_loss_0d_input", lambda L: F(L).nll_loss(L.tensor(1.0), I(L, 0)))
bad("nll_loss_4d_target", lambda L: F(L).nll_loss(L.randn(2, 3, 4, 5), L.zeros(2, 4, 6, dtype=L.int64)))
bad("nll_loss_weight_size", lambda L: F(L).nll_loss(L.randn(2, 3), I(L, 0, 1), weight=T(L, 2)))
bad("cross_entropy_weight_size", lambda L: F(L).cross_entropy(L.randn(2, 3), I(L, 0, 1), weight=T(L, 2)))
bad("mse_loss_shapes", lambda L: F(L).mse_loss(T(L, 2), T(L, 3)))
bad("l1_loss_shapes", lambda L: F(L).l1_loss(T(L, 2), T(L, 3)))
bad("bce_shapes", lambda L: F(L).binary_cross_entropy(T(L, 2) * 0.5, T(L, 3)))
bad("bce_out_of_range", lambda L: F(L).binary_cross_entropy(T(L, 2) * 2, T(L, 2)))
bad("bce_logits_shapes", lambda L: F(L).binary_cross_entropy_with_logits(T(L, 2), T(L, 3)))
bad("kl_div_shapes", lambda L: F(L).kl_div(T(L, 2), T(L, 3), reduction="batchmean"))
bad("loss_bad_reduction", lambda L: F(L).mse_loss(T(L, 2), T(L, 2), reduction="avg"))
bad("dropout_p", lambda L: F(L).dropout(T(L, 2), p=1.5))
bad("dropout_p_neg", lambda L: F(L).dropout(T(L, 2), p=-0.1))
bad("max_pool2d_2d", lambda L: F(L).max_pool2d(T(L, 4, 4), 2))
bad("max_pool2d_kernel_big", lambda L: F(L).max_pool2d(T(L, 1, 1, 2, 2), 3), "Output size is too small")
bad("max_pool2d_pad", lambda L: F(L).max_pool2d(T(L, 1, 1, 4, 4), 2, padding=2))
bad("avg_pool2d_pad", lambda L: F(L).avg_pool2d(T(L, 1, 1, 4, 4), 2, padding=2))
bad("batch_norm_running_shape",
    lambda L: F(L).batch_norm(T(L, 2, 3), T(L, 4), T(L, 4), training=False), "running_mean", "4")
bad("batch_norm_one_value", lambda L: F(L).batch_norm(T(L, 1, 3), None, None, training=True))
bad("layer_norm_shape", lambda L: F(L).layer_norm(T(L, 2, 3), (4,)))
bad("group_norm_groups", lambda L: F(L).group_norm(T(L, 2, 6, 2), 4))
bad("embedding_oob", lambda L: F(L).embedding(I(L, 0, 5), T(L, 3, 2)))
bad("embedding_float_index", lambda L: F(L).embedding(T(L, 2), T(L, 3, 2)))
bad("one_hot_float", lambda L: F(L).one_hot(T(L, 2)))
bad("one_hot_oob", lambda L: F(L).one_hot(I(L, 0, 3), 3))
bad("pad_odd_length", lambda L: F(L).pad(T(L, 2, 2), (1,)))
bad("pad_too_long", lambda L: F(L).pad(T(L, 2), (1, 1, 1, 1)))
bad("normalize_dim_oob", lambda L: F(L).normalize(T(L, 2, 3), dim=2))
bad("cosine_similarity_shapes", lambda L: F(L).cosine_similarity(T(L, 2, 3), T(L, 2, 4)))

# --------------------------------------------------------------------------- nn modules
bad("linear_module_neg", lambda L: L.nn.Linear(-1, 2))
bad("linear_module_str_input", lambda L: L.nn.Linear(2, 2)("abc"))
bad("conv2d_module_str_input", lambda L: L.nn.Conv2d(1, 1, 3)("abc"), "conv2d()")
bad("linear_module_in_features", lambda L: L.nn.Linear(3, 2)(T(L, 2, 4)))
bad("linear_module_dtype", lambda L: L.nn.Linear(3, 2)(T(L, 2, 3, dtype="f64")))
bad("linear_module_dtype_no_bias", lambda L: L.nn.Linear(3, 2, bias=False)(T(L, 2, 3, dtype="f64")))
bad("conv2d_module_dtype", lambda L: L.nn.Conv2d(1, 1, 3)(T(L, 1, 1, 5, 5, dtype="f64")))

# --------------------------------------------------------------------------- autograd
bad("backward_non_scalar", lambda L: (T(L, 2, grad=True) * 2).backward())
bad("backward_no_grad", lambda L: T(L, 2).sum().backward())
bad("backward_grad_shape", lambda L: (T(L, 2, grad=True) * 2).backward(T(L, 3)))
bad("backward_twice",
    lambda L: [y.backward() for y in [(T(L, 2, grad=True).exp()).sum()] * 2])
bad("grad_unused", lambda L: L.autograd.grad((T(L, 2, grad=True) * 2).sum(), [T(L, 2, grad=True)]))
bad("grad_no_grad_output", lambda L: L.autograd.grad(T(L, 2).sum(), [T(L, 2, grad=True)]))


# --------------------------------------------------------------------------- the test
_NUMPY_DIR = os.path.dirname(np.__file__)
# phrases only NumPy says: one of them in a message means a NumPy error got through
_NUMPY_WORDS = ("negative dimensions are not allowed", "axis", "operands could not be broadcast",
                "shape mismatch: objects cannot be broadcast", "attempt to get", "zero-size array",
                "ndarray", "numpy")
_BASES = (IndexError, TypeError, ValueError, NotImplementedError, AttributeError, RuntimeError)


def _raised(fn, L):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn(L)
        except Exception as e:  # noqa: BLE001 - any exception is the result being compared
            return e
    return None


def _kind(e):
    """The builtin class an exception is (torch's own classes subclass one of these)."""
    return next((b for b in _BASES if isinstance(e, b)), type(e))


def _first_line(e):
    s = str(e)
    return s.splitlines()[0].strip() if s else ""


def _innermost_file(e):
    tb = e.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename


@pytest.mark.parametrize("fn, keys", ROWS)
def test_bad_input_fails_like_torch(fn, keys):
    theirs = _raised(fn, torch)
    assert theirs is not None, "the row is wrong: torch accepts this call"
    ours = _raised(fn, tg)
    assert ours is not None, f"tapegrad accepts a call torch refuses with {type(theirs).__name__}: {theirs}"
    ctx = f"\n torch:    {type(theirs).__name__}: {_first_line(theirs)}\n tapegrad: " \
          f"{type(ours).__name__}: {_first_line(ours)}"
    assert _kind(ours) is _kind(theirs), "exception class differs" + ctx
    if keys:
        for k in keys:
            assert k in str(theirs), f"key word {k!r} is not torch's" + ctx
            assert k in str(ours), f"key word {k!r} missing" + ctx
    else:
        assert _first_line(ours) == _first_line(theirs), "message differs" + ctx
    assert not _innermost_file(ours).startswith(_NUMPY_DIR), "a NumPy exception leaked" + ctx
    low = str(ours).lower()
    assert not any(w in low for w in _NUMPY_WORDS if w not in str(theirs).lower()), \
        "a NumPy message leaked" + ctx


def test_the_table_is_large():
    assert len(ROWS) >= 100


def test_bool_mask_indexing_reads_and_writes_like_torch():
    """Masks that do match: the same values as torch, through every indexing path."""
    a = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    m = np.array([True, False, True])
    for L in (torch, tg):
        x = L.tensor(a)
        got = [x[L.tensor(m)], x[:, L.tensor(m.tolist() + [False])], L.masked_select(x, L.tensor(a > 4))]
        y = x.clone()
        y[L.tensor(m)] = -1.0
        z = x.index_put((L.tensor(m),), L.tensor(7.0))
        w = x.clone().index_put_((L.tensor([0, 0]),), L.tensor([1.0, 2.0, 3.0, 4.0]), accumulate=True)
        vals = [v.numpy() for v in got + [y, z, w]]
        if L is torch:
            expected = vals
    for e, o in zip(expected, vals, strict=True):
        np.testing.assert_array_equal(o, e)


def test_anomaly_lets_inf_through_like_torch_unless_check_inf():
    results = []
    for L in (torch, tg):
        x = L.tensor([0.0, 1.0], requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with L.autograd.detect_anomaly():
                x.sqrt().sum().backward()
        results.append(x.grad.numpy().tolist())
    assert results[0] == results[1] == [float("inf"), 0.5]
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            pytest.raises(
                RuntimeError, match=r"Function 'SqrtBackward0' returned inf values in its 0th output"
            ),
            tg.autograd.detect_anomaly(check_inf=True),
        ):
            x.sqrt().sum().backward()
        assert not tg.autograd.grad_mode.state.anomaly
        with (tg.autograd.set_detect_anomaly(True, check_inf=True),
              pytest.raises(RuntimeError, match="returned inf values")):
            x.sqrt().sum().backward()
        # NaN is still reported as NaN
        with (tg.autograd.detect_anomaly(check_inf=True),
              pytest.raises(RuntimeError, match="returned nan values")):
            (x.sqrt() * 0).sum().backward()


# --------------------------------------------------------------------------- the NumPy guard
def test_numpy_errors_inside_an_op_become_torch_classes_naming_the_op():
    from tapegrad.autograd.graph import Node

    class Bad(Node):
        def forward(ctx, x):
            return x.reshape(5)  # NumPy's ValueError

        def backward(ctx, g):
            return g

    class Picky(Node):
        def forward(ctx, x):
            raise ValueError("my own message")

        def backward(ctx, g):
            return g

    for requires_grad in (False, True):
        x = tg.ones(2, 3, requires_grad=requires_grad)
        with pytest.raises(RuntimeError, match=r"^Bad: cannot reshape array"):
            Bad.apply(x)
        with pytest.raises(RuntimeError, match="^Picky: my own message$"):
            Picky.apply(x)
    from tapegrad.ops.indexing import IndexSelect
    with pytest.raises(IndexError, match="^index 5 is out of bounds for dimension 0 with size 3$"):
        IndexSelect.apply(tg.ones(3), np.array([5]), dim=0)
    with pytest.raises(RuntimeError, match="^The size of tensor a"):
        tg.ones(2) + tg.ones(3)


def _innermost_is_numpy(e):
    return _innermost_file(e).startswith(_NUMPY_DIR)


_SWEEP_ARGS = {
    "str": "abc", "none": None, "empty": lambda: tg.ones(0), "empty2": lambda: tg.ones(0, 3),
    "0d": lambda: tg.tensor(1.5), "bool": lambda: tg.tensor([True, False]),
    "int": lambda: tg.tensor([1, 2]), "f64": lambda: tg.ones(2, 3, dtype=tg.float64),
    "m23": lambda: tg.ones(2, 3), "v3": lambda: tg.ones(3), "neg": -1, "float": 1.5, "list": [1, 2],
}
# functions with global effects, or that only wrap Python's own errors
_SWEEP_SKIP = {"manual_seed", "seed", "set_default_dtype", "set_grad_enabled", "load", "save",
               "set_printoptions", "set_rng_state", "use_deterministic_algorithms", "compile",
               "set_num_threads", "set_anomaly_enabled", "set_default_tensor_type", "from_numpy"}
# phrases of NumPy's that must not reach the user (a Python TypeError about the call
# itself, "takes 1 positional argument", is fine: it is what any Python function says)
_NUMPY_PHRASES = ("numpy", "ufunc", "axis ", "dtype('", "ndarray", "operands could not be broadcast",
                  "negative dimensions are not allowed", "zero-size array")


def _public_functions():
    import inspect
    out = [(n, getattr(tg, n)) for n in dir(tg) if not n.startswith("_") and n not in _SWEEP_SKIP
           and callable(getattr(tg, n)) and not inspect.isclass(getattr(tg, n))]
    F_ = tg.nn.functional
    out += [("F." + n, getattr(F_, n)) for n in dir(F_)
            if not n.startswith("_") and inspect.isfunction(getattr(F_, n))]
    return out


def test_no_numpy_exception_leaks_from_the_public_api():
    """Every public function and F.* called with hostile arguments (one, or a tensor and
    one): whatever it raises must be tapegrad's own, never NumPy's."""
    import itertools
    combos = [(k,) for k in _SWEEP_ARGS] + list(itertools.product(["m23", "v3", "0d", "empty"], _SWEEP_ARGS))
    leaks = []
    for name, fn in _public_functions():
        for combo in combos:
            args = [_SWEEP_ARGS[k]() if callable(_SWEEP_ARGS[k]) else _SWEEP_ARGS[k] for k in combo]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    fn(*args)
                except Exception as e:  # noqa: BLE001 - what is raised is what is checked
                    low = str(e).lower()
                    if _innermost_is_numpy(e) or any(p in low for p in _NUMPY_PHRASES):
                        leaks.append(f"{name}{combo}: {type(e).__name__}: {str(e)[:120]}")
    assert not leaks, f"{len(leaks)} NumPy errors leaked:\n" + "\n".join(leaks[:40])

"""The differentiable primitives, grouped by kind.

- ``elementwise``: arithmetic, unary math, activations, comparisons
- ``reduction``: sum, mean, max/min, var/std, norm, softmax family, cumsum
- ``shape``: views, broadcasting, cat/stack/split
- ``indexing``: getitem/setitem, gather/scatter, index_select, masked_fill
- ``linalg``: matmul family, einsum
- ``inplace``: how in-place methods rewrite the graph
"""
from . import elementwise, indexing, inplace, linalg, reduction, shape  # noqa: F401

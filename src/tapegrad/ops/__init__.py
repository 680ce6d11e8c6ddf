"""The differentiable primitives, grouped by kind.

- ``elementwise``: arithmetic, unary math, activations, comparisons
- ``reduction``: sum, mean, max/min, var/std, norm, softmax family, cumsum
- ``shape``: views, broadcasting, cat/stack/split
- ``indexing``: getitem/setitem, gather/scatter, index_select, masked_fill
- ``linalg``: matmul family, einsum
- ``inplace``: how in-place methods rewrite the graph
"""
from . import elementwise, indexing, inplace, linalg, reduction, shape  # noqa: F401
from . import decomposition  # noqa: F401  (linalg: inv, solve, svd, qr, eigh... issue 15)
from . import recurrent  # noqa: F401
from . import special  # noqa: F401
from . import matrix, sorting  # noqa: F401

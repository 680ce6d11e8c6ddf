"""tapegrad.func: composable function transforms in the style of ``torch.func``.

``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian`` and
``functional_call`` run on tapegrad's reverse-mode tape (``jvp``/``jacfwd`` by the
double-vjp trick); ``vmap`` batches with per-op batching rules (see ``_vmap.py``).

>>> import tapegrad as torch
>>> from tapegrad.func import grad, vmap
>>> vmap(grad(lambda x: (x ** 2).sum()))(torch.ones(3, 2))
tensor([[2., 2.],
        [2., 2.],
        [2., 2.]])
"""
from ._transforms import (functional_call, grad, grad_and_value, hessian, jacfwd, jacrev, jvp,
                          vjp)
from ._vmap import BatchedTensor, vmap

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian",
           "functional_call", "vmap"]

"""Core-autograd workloads: tiny tensors (per-op Python overhead) and one big elementwise chain.

Every setup takes the library module (``tapegrad`` or ``torch``) and builds the same
inputs from the same NumPy arrays; the step functions are written once against the
shared API, which is the point of tapegrad.
"""
from __future__ import annotations

import importlib

import numpy as np

from ._harness import Impl, Workload, register


def _lib(name):
    return importlib.import_module(name)


def _pair(setup, step):
    """lib -> Impl, with ``setup`` receiving the library module."""
    return {name: Impl(lambda name=name: setup(_lib(name)), step) for name in ("tapegrad", "torch")}


# ---------------------------------------------------------------- q_small
def q_small_setup(lib):
    a = lib.tensor([2.0, 3.0], dtype=lib.float32, requires_grad=True)
    b = lib.tensor([6.0, 4.0], dtype=lib.float32, requires_grad=True)
    ones = lib.ones(2, dtype=lib.float32)
    return a, b, ones


def q_small_step(state):
    a, b, ones = state
    Q = 3 * a ** 3 - b ** 2
    Q.backward(gradient=ones)
    a.grad = None
    b.grad = None


register(Workload(
    "q_small", "Q = 3*a**3 - b**2 on 2 float32 elements, Q.backward(gradient=ones), grads reset",
    _pair(q_small_setup, q_small_step), target=0.3))


# ---------------------------------------------------------------- add_small
def _add_setup(requires_grad):
    def setup(lib):
        a = lib.tensor([2.0, 3.0], dtype=lib.float32, requires_grad=requires_grad)
        b = lib.tensor([6.0, 4.0], dtype=lib.float32, requires_grad=requires_grad)
        return a, b
    return setup


def add_small_step(state):
    a, b = state
    a + b


register(Workload("add_small_grad", "a + b on 2 float32 elements, requires_grad=True",
                  _pair(_add_setup(True), add_small_step)))
register(Workload("add_small_nograd", "a + b on 2 float32 elements, requires_grad=False",
                  _pair(_add_setup(False), add_small_step)))


# ---------------------------------------------------------------- big_elementwise
BIG_N = 1_000_000


def big_elementwise_setup(lib):
    data = np.random.default_rng(0).standard_normal(BIG_N).astype(np.float32)
    return lib.tensor(data, requires_grad=True)


def big_elementwise_step(x):
    y = ((x * 2).sin() + x.exp() * 0.5).tanh().sum()
    y.backward()
    x.grad = None


register(Workload(
    "big_elementwise", "((x*2).sin() + x.exp()*0.5).tanh().sum() fwd+bwd, 1e6 float32",
    _pair(big_elementwise_setup, big_elementwise_step), target=1.0))

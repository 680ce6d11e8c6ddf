"""``tapegrad.backends``: the flags PyTorch code sets or reads about its compute libraries.

tapegrad computes with NumPy on the CPU, so cuDNN, MPS and oneDNN are never used: their
``is_available()`` is False and their switches (``cudnn.benchmark``, ``cudnn.deterministic``)
are stored and read back without effect, which is what lets training scripts that set them
run unchanged.
"""
from . import cpu, cuda, cudnn, mkldnn, mps, openmp

__all__ = ["cpu", "cuda", "cudnn", "mkldnn", "mps", "openmp"]

"""``tapegrad.backends.cuda``: CUDA is not built; the matmul switches are stored without effect."""


class _MatmulFlags:
    """``backends.cuda.matmul``: TF32 and reduced-precision switches, as PyTorch's defaults."""

    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built() -> bool:
    """False: this build has no CUDA support."""
    return False

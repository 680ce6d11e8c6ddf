"""``tapegrad.backends.openmp``: tapegrad itself starts no OpenMP threads."""


def is_available() -> bool:
    """False: parallelism, if any, is inside NumPy's BLAS."""
    return False

"""``tapegrad.backends.mkldnn``: oneDNN is not used (NumPy's BLAS does the matrix work)."""

enabled = True


def is_available() -> bool:
    """False: tapegrad does not call oneDNN."""
    return False

"""``tapegrad.backends.mps``: Apple's Metal backend is neither built nor available here."""


def is_available() -> bool:
    """False: no MPS device can be used."""
    return False


def is_built() -> bool:
    """False: this build has no MPS support."""
    return False

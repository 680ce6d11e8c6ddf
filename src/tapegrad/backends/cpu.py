"""``tapegrad.backends.cpu``."""


def get_cpu_capability() -> str:
    """"DEFAULT": tapegrad picks no vectorised kernels by CPU feature (NumPy does, internally)."""
    return "DEFAULT"

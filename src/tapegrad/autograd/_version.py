"""Version counters (shared by a tensor and its views) and user source locations."""
from __future__ import annotations

import sys


class VersionCounter:
    """Counts in-place writes to one storage; shared by a tensor and its views."""

    # ``saved``: some node has saved a tensor of this storage, so an error may name the last
    # write's source location; until then in-place writes skip finding it (a frame walk).
    __slots__ = ("value", "last_op", "where", "saved")

    def __init__(self):
        self.value = 0
        self.last_op = None
        self.where = None
        self.saved = False


def user_frame_summary(skip_package=True) -> str | None:
    """``file:line in func`` of the innermost frame outside tapegrad (for error messages)."""
    f = sys._getframe(1)
    pkg = __name__.rsplit(".", 2)[0]
    while f is not None:
        mod = f.f_globals.get("__name__", "")
        if not (skip_package and (mod == pkg or mod.startswith(pkg + "."))):
            return f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}"
        f = f.f_back
    return None

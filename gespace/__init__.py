"""gespace: search the Gather-Excite design space.

``gespace.build_model(point)`` and ``gespace.load_space(path)`` are the entry
points; torch is imported only when a model is asked for.
"""
from typing import Any

from gespace.grammar import load_space, point_id

__version__ = "0.1.0"
__all__ = ["build_model", "load_space", "point_id"]


def __getattr__(name: str) -> Any:
    if name == "build_model":
        from gespace.builder import build_model
        return build_model
    raise AttributeError(f"module 'gespace' has no attribute {name!r}")

"""A point of a design space in canonical form: the one type a point travels as, from the spec
to the record.

Only a `Space` makes one (``canonicalise``, ``resolve`` and what samples,
enumerates or names anchors go through them): every knob the vocabulary
resolves, in dependency order, values normalised (tuples for lists). It is a
frozen ``dict``, so that code reading a point, JSON and Ray's configs take it
as they are; its id is computed once, on first use. It round-trips through
JSON at the store boundary: ``space.canonicalise(json.loads(json.dumps(p))) == p``.
"""
from __future__ import annotations

from typing import Any, Iterable


def architecture(point: dict[str, Any]) -> dict[str, Any]:
    """The knobs that shape the network (everything but ``train.*``): what costs and times it."""
    return {key: value for key, value in point.items() if not key.startswith("train.")}


class CanonicalPoint(dict):
    """A canonical point; see the module docstring."""

    __slots__ = ("_id",)

    def __init__(self, values: dict[str, Any] | Iterable[tuple[str, Any]] = (), point_id: str | None = None) -> None:
        dict.__init__(self, values)
        self._id = point_id

    @property
    def id(self) -> str:
        """The point's short stable hash (key order and inactive knobs ignored)."""
        if self._id is None:
            from gespace.grammar.space import digest  # the vocabulary's canonical form, hashed

            self._id = digest(self)
        return self._id

    def architecture(self) -> dict[str, Any]:
        """The knobs that shape the network (`architecture`)."""
        return architecture(self)

    def train_config(self) -> dict[str, Any]:
        """Its training settings, every ``train.*`` knob (`gespace.train.config.train_config`)."""
        from gespace.train.config import train_config  # the grammar stays free of torch's import

        return train_config(self)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self.id)

    def __reduce__(self) -> tuple:
        # Pickled (Ray ships points in trial configs) as values and id, not item by item.
        return CanonicalPoint, (dict(self), self._id)

    def _frozen(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a canonical point is frozen: make another with "
                        "space.canonicalise({**point, key: value})")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _frozen  # type: ignore

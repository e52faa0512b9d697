"""The design-space grammar: parse, validate, canonicalise, count, enumerate, sample."""
from gespace.grammar.conditions import Condition, ConditionSyntaxError
from gespace.grammar.errors import Problem, SpecError
from gespace.grammar.space import (ANCHOR_LABELS, Point, PointError, Space, anchor_label, load_space,
                                   point_id)

__all__ = ["ANCHOR_LABELS", "Condition", "ConditionSyntaxError", "Point", "PointError", "Problem",
           "Space", "SpecError", "anchor_label", "load_space", "point_id"]

"""The design-space grammar: parse, validate, canonicalise, count, enumerate, sample."""
from gespace.grammar.conditions import Condition, ConditionSyntaxError
from gespace.grammar.errors import Problem, SpecError
from gespace.grammar.labels import ANCHOR_LABELS, anchor_label, describe, point_label, value_text
from gespace.grammar.space import Point, PointError, Space, load_space, point_id

__all__ = ["ANCHOR_LABELS", "Condition", "ConditionSyntaxError", "Point", "PointError", "Problem",
           "Space", "SpecError", "anchor_label", "describe", "load_space", "point_id", "point_label",
           "value_text"]

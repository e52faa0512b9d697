"""The `when:` condition language: a tokenizer and a recursive-descent parser.

    expr  := or
    or    := and ("or" and)*
    and   := not ("and" not)*
    not   := "not" not | cmp
    cmp   := atom [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") atom]
    atom  := NUMBER | STRING | true | false | null | NAME ("." NAME)* | "(" expr ")"
           | "[" [atom ("," atom)*] "]"

Names are dotted knob paths. Nothing is ever passed to ``eval``. Comparing
values of different types (``'global' < 4``) is simply false. A condition is
at most ``MAX_CONDITION_CHARS`` characters and ``MAX_NESTING`` levels of
parentheses, lists and ``not`` deep, so that parsing and evaluating it (both
recursive) stay far from Python's recursion limit.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>-?\d+(\.\d*)?([eE][-+]?\d+)?)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)
""", re.VERBOSE)

MAX_CONDITION_CHARS = 1000
MAX_NESTING = 32

_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_LITERAL_WORDS = {"true": True, "false": False, "null": None}


class ConditionSyntaxError(ValueError):
    """A condition that does not parse; ``offset`` is the 0-based column in the text."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Token:
    kind: str  # number | string | op | name | keyword | end
    text: str
    offset: int


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ConditionSyntaxError(f"unexpected character {text[pos]!r}", pos)
        kind = match.lastgroup
        if kind != "space":
            word = match.group()
            tokens.append(Token("keyword" if word in _KEYWORDS else kind, word, pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def safe(left: Any, right: Any) -> bool:
        try:
            return bool(op(left, right))
        except TypeError:
            return False
    return safe


def _contains(item: Any, container: Any) -> bool:
    return isinstance(container, (tuple, list, str)) and item in container


_BINARY: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne,
    "<": _compare(operator.lt), "<=": _compare(operator.le),
    ">": _compare(operator.gt), ">=": _compare(operator.ge),
    "in": _contains, "not in": lambda item, container: not _contains(item, container),
}

# A node is a tuple: ("lit", value) | ("name", path) | ("list", [nodes])
# | ("not", node) | ("and"/"or", [nodes]) | ("cmp", op, left, right).
Node = tuple


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_CONDITION_CHARS:
            raise ConditionSyntaxError(f"{len(text)} characters; a condition may have at most "
                                       f"{MAX_CONDITION_CHARS}", 0)
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    def nest(self, token: Token) -> None:
        """Enter a '(', '[' or 'not' (each one recursion level deeper)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ConditionSyntaxError(f"nested more than {MAX_NESTING} levels deep (parentheses, lists "
                                       "and 'not'), the limit for a condition", token.offset)

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise ConditionSyntaxError(f"expected {text!r}, found {token.text or 'end'!r}", token.offset)

    def parse(self) -> Node:
        node = self.parse_or()
        token = self.peek()
        if token.kind != "end":
            raise ConditionSyntaxError(f"unexpected {token.text!r}", token.offset)
        return node

    def parse_or(self) -> Node:
        parts = [self.parse_and()]
        while self.peek().text == "or":
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def parse_and(self) -> Node:
        parts = [self.parse_not()]
        while self.peek().text == "and":
            self.take()
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def parse_not(self) -> Node:
        if self.peek().text == "not":
            self.nest(self.take())
            node = ("not", self.parse_not())
            self.depth -= 1
            return node
        return self.parse_cmp()

    def parse_cmp(self) -> Node:
        left = self.parse_atom()
        token = self.peek()
        op = token.text
        if op == "not" and self.tokens[self.pos + 1].text == "in":
            self.take()
            op = "not in"
        elif op not in _BINARY:
            return left
        self.take()
        return ("cmp", op, left, self.parse_atom())

    def parse_atom(self) -> Node:
        token = self.take()
        if token.kind == "number":
            number = float(token.text)
            return ("lit", int(number) if re.fullmatch(r"-?\d+", token.text) else number)
        if token.kind == "string":
            return ("lit", token.text[1:-1])
        if token.text in _LITERAL_WORDS:
            return ("lit", _LITERAL_WORDS[token.text])
        if token.kind == "name":
            return ("name", token.text)
        if token.text == "(":
            self.nest(token)
            node = self.parse_or()
            self.expect(")")
            self.depth -= 1
            return node
        if token.text == "[":
            self.nest(token)
            items: list[Node] = []
            while self.peek().text != "]":
                items.append(self.parse_atom())
                if self.peek().text != ",":
                    break
                self.take()
            self.expect("]")
            self.depth -= 1
            return ("list", items)
        found = token.text or "end of condition"
        raise ConditionSyntaxError(f"expected a value, knob or '(', found {found!r}", token.offset)


def _names(node: Node) -> set[str]:
    kind = node[0]
    if kind == "name":
        return {node[1]}
    if kind in ("and", "or", "list"):
        return set().union(*(_names(child) for child in node[1])) if node[1] else set()
    if kind == "not":
        return _names(node[1])
    if kind == "cmp":
        return _names(node[2]) | _names(node[3])
    return set()


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _evaluate(node: Node, values: Mapping[str, Any]) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "name":
        return _freeze(values[node[1]])
    if kind == "list":
        return tuple(_evaluate(child, values) for child in node[1])
    if kind == "not":
        return not _evaluate(node[1], values)
    if kind == "and":
        return all(_evaluate(child, values) for child in node[1])
    if kind == "or":
        return any(_evaluate(child, values) for child in node[1])
    return _BINARY[node[1]](_evaluate(node[2], values), _evaluate(node[3], values))


class Condition:
    """A parsed condition: ``names`` it reads, and ``holds(values)``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tree = _Parser(text).parse()
        self.names = frozenset(_names(self.tree))

    def holds(self, values: Mapping[str, Any]) -> bool:
        """True when the condition holds; false when a knob it reads has no value."""
        if any(name not in values for name in self.names):
            return False
        return bool(_evaluate(self.tree, values))

    def __repr__(self) -> str:
        return f"Condition({self.text!r})"

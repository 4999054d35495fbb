"""The `$filter` and `$orderBy` grammar of the file lists, as the manual documents it.

    expr    := and ('or' and)*
    and     := unary ('and' unary)*
    unary   := '(' expr ')' | call [('eq' | 'ne') ('true' | 'false')] | field op value
    call    := func '(' (field ',' 'text' | 'text' ',' field) ')'
    func    := startsWith | endsWith | contains      (fileName only)
    op      := eq | ne | gt | lt | ge | le

Field, operator and function names match case-insensitively (`FileName` and `fileName` both
appear in the vendor's own examples). Visma's own collection and scripts also send a call compared
with a boolean (`startsWith(FileName,'x') eq false`) and the text before the field
(`endsWith('.txt', FileName)`, meaning the same as `endsWith(FileName, '.txt')`), so both are
accepted. `status` ('available' a.k.a. 'new', 'downloaded', 'all')
exists for subscribers only; a filter that does not mention it lists available files only.
"""

import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

FileRow = dict[str, Any]
Predicate = Callable[[FileRow], bool]

_TOKEN = re.compile(r"\s*(?:(\()|(\))|(,)|'((?:[^']|'')*)'|([^\s(),']+))")
_OPS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "lt": operator.lt,
    "ge": operator.ge,
    "le": operator.le,
}
_FUNCS = {"startswith": str.startswith, "endswith": str.endswith, "contains": str.__contains__}
STATUSES = {"available": False, "new": False, "downloaded": True}


class FilterError(ValueError):
    """A `$filter` or `$orderBy` the API would answer with 400."""


def parse_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FilterError(f"Invalid DateTime value {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match:
            raise FilterError(f"Invalid filter near {text[position:]!r}")
        position = match.end()
        group = match.lastindex
        kind = {1: "(", 2: ")", 3: ",", 4: "str", 5: "word"}[group]
        value = match.group(group)
        tokens.append((kind, value.replace("''", "'") if kind == "str" else value))
    return tokens


class _Parser:
    def __init__(self, text: str, role: str):
        self.tokens, self.index, self.role = _tokens(text), 0, role
        self.mentions_status = False

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, kind: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (kind is not None and token[0] != kind):
            raise FilterError(f"Invalid filter: expected {kind or 'a term'}")
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].lower() == word:
            self.index += 1
            return True
        return False

    def parse(self) -> Predicate:
        predicate = self.expr()
        if self.peek() is not None:
            raise FilterError(f"Invalid filter: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return predicate

    def expr(self) -> Predicate:
        terms = [self.conjunction()]
        while self.keyword("or"):
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else (lambda row: any(t(row) for t in terms))

    def conjunction(self) -> Predicate:
        terms = [self.unary()]
        while self.keyword("and"):
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else (lambda row: all(t(row) for t in terms))

    def unary(self) -> Predicate:
        if self.peek() == ("(", "("):
            self.take("(")
            inner = self.expr()
            self.take(")")
            return inner
        _, word = self.take("word")
        if word.lower() in _FUNCS:
            call = self.call(word)
            token = self.peek()
            if token is None or token[0] != "word" or token[1].lower() not in ("eq", "ne"):
                return call
            _, op_name = self.take()
            _, value = self.take("word")
            if value.lower() not in ("true", "false"):
                raise FilterError(f"{word}(...) compares with true or false, not {value!r}")
            wanted = (value.lower() == "true") == (op_name.lower() == "eq")
            return lambda row: call(row) == wanted
        return self.comparison(word.lower())

    def call(self, name: str) -> Predicate:
        func = _FUNCS[name.lower()]
        self.take("(")
        kind, first = self.take()
        self.take(",")
        if kind == "str":  # the text first, as Visma's own scripts write endsWith
            text, field = first, self.take("word")[1]
        else:
            field, text = first, self.take("str")[1]
        self.take(")")
        if field.lower() != "filename":
            raise FilterError(f"{name} applies to fileName only")
        return lambda row: func(row["name"], text)

    def comparison(self, field: str) -> Predicate:
        _, op_name = self.take("word")
        op = _OPS.get(op_name.lower())
        if op is None:
            raise FilterError(f"Unknown operator {op_name!r}")
        _, raw = self.take()
        if field == "businesstype":
            try:
                wanted: Any = int(raw)
            except ValueError as exc:
                raise FilterError(f"Invalid BusinessTypeId {raw!r}") from exc
            return lambda row: op(row["business_type"], wanted)
        if field == "uploaddate":
            moment = parse_datetime(raw)
            return lambda row: op(parse_datetime(row["upload_date"]), moment)
        if field == "filename":
            return lambda row: op(row["name"], raw)
        if field == "status" and self.role == "subscriber":
            return self.status(op_name.lower(), raw.lower())
        raise FilterError(f"Unknown filter field {field!r}")

    def status(self, op_name: str, value: str) -> Predicate:
        self.mentions_status = True
        if op_name not in ("eq", "ne"):
            raise FilterError("status supports eq and ne only")
        if value == "all":
            return lambda row: op_name == "eq"
        if value not in STATUSES:
            raise FilterError(f"Unknown status {value!r}")
        downloaded = STATUSES[value]
        return lambda row: (bool(row["downloaded"]) == downloaded) == (op_name == "eq")


def compile_filter(text: str | None, role: str) -> tuple[Predicate, set[int]]:
    """(predicate, business types named in the filter); available-only unless status is named."""
    parser = _Parser(text or "", role)
    predicate = parser.parse() if text and text.strip() else (lambda row: True)
    named = {
        int(parser.tokens[i + 2][1])
        for i, (kind, value) in enumerate(parser.tokens[:-2])
        if kind == "word" and value.lower() == "businesstype" and parser.tokens[i + 2][1].isdigit()
    }
    if role == "subscriber" and not parser.mentions_status:
        base = predicate
        return (lambda row: not row["downloaded"] and not row["deleted"] and base(row)), named
    return predicate, named


_SORT_KEYS = {
    "uploaddate": lambda row: (parse_datetime(row["upload_date"]), row["seq"]),
    "businesstype": lambda row: (row["business_type"], row["seq"]),
    "filename": lambda row: (row["name"], row["seq"]),
    "status": lambda row: (row["downloaded"], row["seq"]),
}


def sort_rows(rows: list[FileRow], order_by: str | None, role: str) -> list[FileRow]:
    """Sort as `$orderBy=<field> [asc|desc]` asks; by default uploadDate desc."""
    parts = (order_by or "uploadDate desc").split()
    if not parts or len(parts) > 2:
        raise FilterError(f"Invalid $orderBy {order_by!r}")
    field, direction = parts[0].lower(), (parts[1].lower() if len(parts) == 2 else "asc")
    if field not in _SORT_KEYS or direction not in ("asc", "desc"):
        raise FilterError(f"Invalid $orderBy {order_by!r}")
    if field == "status" and role != "subscriber":
        raise FilterError("status is not a sort key for publishers")
    return sorted(rows, key=_SORT_KEYS[field], reverse=direction == "desc")

"""A vendor's SQL file as statements with their line numbers, split by sqlglot's tokenizer (so a
``;`` inside a string or a comment does not split), keeping each statement's original text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.errors import ProductFailure

DIALECT = {"postgresql": "postgres", "mysql": "mysql"}


@dataclass(frozen=True)
class Statement:
    file: str
    line: int
    text: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def head(self) -> str:
        first = " ".join(self.text.split())
        return first if len(first) <= 90 else first[:87] + "..."


def split(path: Path, name: str, engine: str) -> list[Statement]:
    import sqlglot  # here: a worker loads this module with the suites, most submissions have no database
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    sql = path.read_text()
    try:
        tokens = sqlglot.tokenize(sql, read=DIALECT[engine])
    except TokenError as exc:
        raise ProductFailure(f"{name}: cannot be read as {engine} SQL: {exc}") from None
    statements, start = [], None
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            if start is not None:
                statements.append(_statement(sql, name, start, tok.start))
            start = None
        elif start is None:
            start = tok.start
    if start is not None:
        statements.append(_statement(sql, name, start, len(sql)))
    return statements


def _statement(sql: str, name: str, start: int, end: int) -> Statement:
    return Statement(name, sql.count("\n", 0, start) + 1, sql[start:end].strip())


def parse(statement: Statement, engine: str):
    """The sqlglot tree in the target's dialect, or None where sqlglot cannot parse it."""
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    try:
        return sqlglot.parse_one(statement.text, read=DIALECT[engine])
    except (ParseError, TokenError, ValueError):
        return None

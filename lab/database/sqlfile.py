"""A vendor's SQL file as statements with their line numbers, split by sqlglot's tokenizer (so a
``;`` inside a string or a comment does not split), keeping each statement's original text.

The file is the vendor's, so nothing in it may crash the harness: text that is not UTF-8, a NUL
byte or a tokenizer error is a ``ProductFailure`` naming the file and where; a statement sqlglot
cannot parse (an unsupported construct, or nesting deeper than its recursive parser goes) is an
``Analysis`` without a tree and with the reason, for the dialect checks to report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.errors import ProductFailure

DIALECT = {"postgresql": "postgres", "mysql": "mysql"}
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Statement:
    file: str
    line: int
    text: str
    number: int = 0  # 1-based position in its file
    code: str = ""  # ``text`` for text rules: literals and quoted names masked, comments blanked

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def head(self) -> str:
        first = " ".join(self.text.split())
        return first if len(first) <= 90 else first[:87] + "..."


@dataclass(frozen=True)
class Analysis:
    """sqlglot's tree of a statement, or None and ``problem`` saying why there is none."""

    tree: object | None
    problem: str = ""


def decode(data: bytes, name: str) -> str:
    """The file as text. SQL files are UTF-8 (a leading BOM is tolerated); anything else is the
    vendor's to fix, and the offset lets them find it."""
    skip = len(BOM) if data.startswith(BOM) else 0
    try:
        sql = data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        line = data.count(b"\n", 0, offset) + 1
        raise ProductFailure(f"{name}: not UTF-8 text: byte 0x{data[offset]:02x} at byte offset {offset} "
                             f"(line {line}) cannot be decoded ({exc.reason})") from None
    nul = sql.find("\0")
    if nul >= 0:  # no client passes it on, and neither PostgreSQL nor MySQL accepts it in SQL text
        offset, line = skip + len(sql[:nul].encode("utf-8")), sql.count("\n", 0, nul) + 1
        raise ProductFailure(f"{name}: a NUL byte at byte offset {offset} (line {line}); SQL text cannot hold one")
    return sql


def split(path: Path, name: str, engine: str) -> list[Statement]:
    import sqlglot  # here: a worker loads this module with the suites, most submissions have no database
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    sql = decode(path.read_bytes(), name)
    try:
        tokens = sqlglot.tokenize(sql, read=DIALECT[engine])
    except (TokenError, ValueError, RecursionError) as exc:
        raise ProductFailure(f"{name}: cannot be read as {engine} SQL: {exc}") from None
    # What text rules see: comments blanked, literals and quoted names filled with quote marks, so
    # none of them fakes a keyword while every token keeps its place and shape.
    code = [" "] * len(sql)
    statements, start = [], None
    for tok in tokens:
        span = tok.end + 1 - tok.start
        if tok.token_type == TokenType.IDENTIFIER:
            code[tok.start:tok.end + 1] = '"' * span
        elif tok.token_type.name.endswith("STRING"):
            code[tok.start:tok.end + 1] = "'" * span
        else:
            code[tok.start:tok.end + 1] = sql[tok.start:tok.end + 1]
        if tok.token_type == TokenType.SEMICOLON:
            if start is not None:
                statements.append(_statement(sql, code, name, len(statements) + 1, start, tok.start))
            start = None
        elif start is None:
            start = tok.start
    if start is not None:
        statements.append(_statement(sql, code, name, len(statements) + 1, start, len(sql)))
    return statements


def _statement(sql: str, code: list[str], name: str, number: int, start: int, end: int) -> Statement:
    return Statement(name, sql.count("\n", 0, start) + 1, sql[start:end].strip(), number,
                     "".join(code[start:end]).strip())


def analyse(statement: Statement, engine: str) -> Analysis:
    """The sqlglot tree in the target's dialect; where sqlglot cannot parse the statement, no tree
    and the reason, so that the statement is reported rather than silently passed."""
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    try:
        return Analysis(sqlglot.parse_one(statement.text, read=DIALECT[engine]))
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        near = f" near `{first['highlight']}`" if first.get("highlight") else ""
        line = f" (line {statement.line + first['line'] - 1})" if first.get("line") else ""
        return Analysis(None, f"{first.get('description') or 'cannot parse'}{near}{line}")
    except (TokenError, ValueError) as exc:
        return Analysis(None, " ".join(str(exc).split())[:200])
    except RecursionError:  # sqlglot recurses per nesting level: ~50 parentheses exhaust Python's stack
        return Analysis(None, "nested too deeply for the parser")


def parse(statement: Statement, engine: str):
    """The sqlglot tree in the target's dialect, or None where sqlglot cannot parse it."""
    return analyse(statement, engine).tree

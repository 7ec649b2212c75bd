"""SQL splitting with line numbers, and the dialect profiles (no server needed)."""

from __future__ import annotations

import pytest

from lab.database.profiles import known_profiles, matches
from lab.database.sqlfile import parse, split


def write(tmp_path, text):
    p = tmp_path / "schema.sql"
    p.write_text(text)
    return p


def test_split_keeps_lines_and_ignores_semicolons_in_strings_and_comments(tmp_path):
    sql = ("-- header; not a statement\nCREATE TABLE a (\n  note TEXT DEFAULT 'x;y'\n);\n\n\n"
           "INSERT INTO a VALUES ('1');\nSELECT 1")
    statements = split(write(tmp_path, sql), "sql/schema.sql", "postgresql")
    assert [(s.line, s.text.split()[0]) for s in statements] == [(2, "CREATE"), (7, "INSERT"), (8, "SELECT")]
    assert statements[0].where == "sql/schema.sql:2" and "'x;y'" in statements[0].text


def test_every_profile_rule_names_its_source():
    profiles = known_profiles()
    assert {"opengauss", "kingbasees", "tidb", "oceanbase-mysql"} <= set(profiles)
    for profile in profiles.values():
        for rule in profile.rules:
            assert rule.source.strip() and "http" in rule.source, rule.id


def found(tmp_path, sql, engine, profile):
    out = []
    for st in split(write(tmp_path, sql), "s.sql", engine):
        tree = parse(st, engine)
        out += [(r.id, r.severity) for r in known_profiles()[profile].rules if matches(r, tree, st.text)]
    return out


@pytest.mark.parametrize(("sql", "engine", "profile", "expected"), [
    ("INSERT INTO t VALUES (1) ON CONFLICT (id) DO NOTHING;", "postgresql", "opengauss",
     [("opengauss.on-conflict", "failure")]),
    ("CREATE TABLE t (id INT GENERATED ALWAYS AS IDENTITY);", "postgresql", "opengauss",
     [("opengauss.identity", "failure")]),
    ("CREATE EXTENSION pgcrypto;", "postgresql", "opengauss", [("opengauss.extension", "advisory")]),
    ("CREATE TABLE t (a INT, b INT GENERATED ALWAYS AS (a * 2) STORED);", "postgresql", "kingbasees",
     [("kingbasees.generated-stored", "advisory")]),
    ("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1;", "mysql", "tidb",
     [("tidb.trigger", "failure")]),
    ("CREATE TABLE t (a INT, FOREIGN KEY (a) REFERENCES u (id));", "mysql", "tidb",
     [("tidb.foreign-key", "advisory")]),
    ("CREATE TABLE t (body TEXT, FULLTEXT KEY ft (body));", "mysql", "oceanbase-mysql",
     [("oceanbase.fulltext", "advisory")]),
    ("CREATE TABLE t (id SERIAL PRIMARY KEY, name TEXT);", "postgresql", "opengauss", []),
])
def test_profiles_flag_what_the_product_lacks(tmp_path, sql, engine, profile, expected):
    assert found(tmp_path, sql, engine, profile) == expected

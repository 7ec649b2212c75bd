"""Suite `database`: the vendor's schema and checks against the stack's real server, and a static
dialect analysis (sqlglot) against the profiles of the domestic products the stack stands for."""

from __future__ import annotations

import pytest

from lab.database.profiles import findings as profile_findings
from lab.database.sqlfile import split
from lab.errors import NotApplicable
from lab.reasons import SQL_REFUSED
from lab.suite.applicable import require
from lab.suite.database import start_database


@pytest.fixture(scope="module")
def database(lab, target):
    return start_database(lab)


def statements(lab, field: str):
    claim = lab.submission.model.database
    rel = getattr(claim, field) if claim else None
    if not rel:
        raise NotApplicable(f"the submission gives no database.{field.rstrip('_')}")
    return split(lab.submission.file(rel), rel, lab.target_spec.database.engine)


@pytest.mark.check("database.schema")
def test_schema_applies_cleanly(lab, database):
    server, _ = database
    applied = 0
    for st in statements(lab, "schema_"):
        error = server.execute(st)
        assert error is None, SQL_REFUSED.say(where=st.where, server=server.spec.server, statement=st.head,
                                              error=" ".join(error.split()))
        applied += 1
    lab.state.schema_applied = True
    lab.note(f"{applied} statement(s) applied on {server.spec.server}")


@pytest.mark.check("database.checks")
def test_every_check_statement_succeeds(lab, database):
    server, _ = database
    checks = statements(lab, "checks")
    if lab.submission.model.database.schema_ and not lab.state.schema_applied:
        raise NotApplicable("needs the schema applied (see database.schema)")
    refused = [f"{st.where}: `{st.head}`: {' '.join(error.split())}"
               for st in checks if (error := server.execute(st)) is not None]
    assert not refused, "\n".join(refused)
    lab.note(f"{len(checks)} check statement(s) succeeded")


def findings(lab, severity: str) -> list[str]:
    require("database.dialect", lab.submission.model, lab.target_spec)
    spec, claim = lab.target_spec.database, lab.submission.model.database
    sql = [st for field in ("schema_", "checks") if getattr(claim, field)
           for st in split(lab.submission.file(getattr(claim, field)), getattr(claim, field), spec.engine)]
    return profile_findings(sql, spec.engine, spec.profiles, severity)


@pytest.mark.check("database.dialect")
def test_no_construct_the_stacks_products_lack(lab):
    found = findings(lab, "failure")
    assert not found, "\n".join(found)


@pytest.mark.check("database.dialect_advisories")
def test_constructs_that_differ(lab):
    found = findings(lab, "advisory")
    assert not found, "advisory: " + "\n".join(found)

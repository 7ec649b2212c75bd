"""OSV records: checked into typed objects (a malformed batch refused whole, naming file and field),
imported in bulk, replaced on re-import, matched against components; severity from the record."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

import pytest

from lab.catalogue.db import open_catalogue
from lab.errors import InputError
from lab.supply import osv


def record(rid="OSV-1", eco="Debian:12", name="curl", fixed="7.88.1-10+deb12u5", **extra) -> dict:
    return {"id": rid, "modified": "2026-11-01T00:00:00Z", "summary": "s",
            "affected": [{"package": {"ecosystem": eco, "name": name},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
            **extra}


@pytest.fixture
def engine(tmp_path):
    return open_catalogue(f"sqlite:///{tmp_path / 'c.db'}")


def test_malformed_records_are_refused_with_file_and_field_and_nothing_is_imported(tmp_path, engine):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(record()))
    bad = tmp_path / "bad.json"
    broken = record("OSV-2")
    del broken["modified"]
    broken["affected"][0]["package"].pop("name")
    broken["affected"][0]["ranges"][0]["events"][1] = {"introduced": "1", "fixed": "2"}
    bad.write_text(json.dumps(broken))
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(InputError) as exc:
        osv.read_paths([tmp_path])
    text = exc.value.render()
    assert f"{bad}: modified: field required" in text
    assert f"{bad}: affected[0].package.name: field required" in text
    assert "affected[0].ranges[0].events[1]" in text and "exactly one of" in text
    assert f"{tmp_path / 'junk.json'}: not JSON" in text
    assert "nothing was imported" in text
    assert osv.count(engine) == 0


def test_a_folder_and_a_zip_import_and_a_newer_record_replaces_the_old(tmp_path, engine):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.json").write_text(json.dumps(record("OSV-A")))
    with zipfile.ZipFile(tmp_path / "Debian.zip", "w") as z:
        z.writestr("OSV-B.json", json.dumps(record("OSV-B", fixed="7.88.1-10+deb12u9")))
    ids = osv.import_records(engine, osv.read_paths([tmp_path / "d", tmp_path / "Debian.zip"]))
    assert sorted(ids) == ["OSV-A", "OSV-B"] and osv.count(engine) == 2
    subject = osv.Subject("Debian:12", "curl", "7.88.1-10+deb12u6", "libcurl4 (source curl)")
    assert [f.record for f in osv.match(engine, [subject])] == ["OSV-B"]
    newer = record("OSV-B", fixed="7.88.1-10+deb12u6")
    newer["modified"] = "2026-11-02T00:00:00Z"
    (tmp_path / "b2.json").write_text(json.dumps(newer))
    osv.import_records(engine, osv.read_paths([tmp_path / "b2.json"]))
    assert osv.count(engine) == 2 and osv.match(engine, [subject]) == []


def test_a_withdrawn_record_is_removed(tmp_path, engine):
    (tmp_path / "a.json").write_text(json.dumps(record("OSV-W")))
    osv.import_records(engine, osv.read_paths([tmp_path / "a.json"]))
    (tmp_path / "a.json").write_text(json.dumps(record("OSV-W", withdrawn="2026-11-03T00:00:00Z")))
    osv.import_records(engine, osv.read_paths([tmp_path / "a.json"]))
    assert osv.count(engine) == 0


def test_matching_names_a_fixed_version_and_pypi_names_match_case_blind(tmp_path, engine):
    (tmp_path / "r.json").write_text(json.dumps(record("GHSA-x", "PyPI", "Requests", "2.32.0")))
    osv.import_records(engine, osv.read_paths([tmp_path / "r.json"]))
    [f] = osv.match(engine, [osv.Subject("PyPI", "requests", "2.31.0", "requests")])
    assert f.line().startswith("GHSA-x (unknown): requests installed 2.31.0, fixed in 2.32.0")
    assert osv.match(engine, [osv.Subject("npm", "requests", "2.31.0")]) == []


@pytest.mark.parametrize(("extra", "level"), [
    ({"database_specific": {"severity": "MODERATE"}}, "medium"),
    ({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}, "critical"),
    ({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"}]}, "medium"),
    ({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]}, "low"),
    ({}, "unknown"),
])
def test_severity_from_the_records_word_or_its_cvss_vector(extra, level):
    assert osv.Record.model_validate(record(**extra)).level() == level


def test_thresholds():
    assert osv.at_or_above("high", "high") and osv.at_or_above("critical", "medium")
    assert not osv.at_or_above("medium", "high") and not osv.at_or_above("unknown", "low")


def test_hostile_record_files_are_refused_by_name_not_with_a_traceback(tmp_path, engine):
    """Review: nesting past Python's recursion limit, a zip whose deflate stream is corrupt, and a
    batch larger than the lab reads are each refused (InputError naming the file), nothing imported."""
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    nested = record("OSV-9")
    (tmp_path / "deep" / "deep2.json").write_text(json.dumps(nested)[:-1] + ', "database_specific": '
                                                  + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}")
    with pytest.raises(InputError) as exc:
        osv.read_paths([tmp_path / "deep"])
    text = exc.value.render()
    assert "deep.json: not an OSV record: nested too deeply" in text
    assert "deep2.json: not an OSV record: nested too deeply" in text

    z = tmp_path / "corrupt.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("OSV-1.json", json.dumps(record()) * 20)
    data = bytearray(z.read_bytes())
    start = 30 + len("OSV-1.json")  # the member's compressed bytes follow its local header
    data[start:start + 16] = b"\xff" * 16
    z.write_bytes(bytes(data))
    with pytest.raises(InputError) as exc:
        osv.read_paths([z])
    assert f"{z}: not a readable .zip: Error -3" in str(exc.value)


def test_a_batch_larger_than_the_lab_reads_is_refused_whole(tmp_path, engine, monkeypatch):
    for i in range(3):
        (tmp_path / f"r{i}.json").write_text(json.dumps(record(f"OSV-{i}")))
    one = len((tmp_path / "r0.json").read_bytes())
    monkeypatch.setattr(osv, "BATCH_MAX", 2 * one + 1)
    with pytest.raises(InputError) as exc:
        osv.read_paths([tmp_path])
    assert "r2.json" in exc.value.render() and "several batches" in exc.value.render()
    assert osv.count(engine) == 0


def test_a_feed_the_lab_cannot_read_is_broken_not_no_records(tmp_path, engine):
    """Review: any database error read as "no records", which skipped supply.vulnerabilities and let
    a certificate through unchecked. Only a catalogue without the feed's table is empty."""
    from sqlalchemy import create_engine

    from lab.errors import InfrastructureError
    from lab.supply import feed

    empty = tmp_path / "empty.db"
    assert feed.records(create_engine(f"sqlite:///{empty}")) == 0
    (tmp_path / "r.json").write_text(json.dumps(record()))
    osv.import_records(engine, osv.read_paths([tmp_path / "r.json"]))
    assert feed.records(engine) == 1
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database, " * 400)
    with pytest.raises(InfrastructureError) as exc:
        feed.records(create_engine(f"sqlite:///{corrupt}"))
    assert "the lab's vulnerability feed cannot be read" in str(exc.value)


def test_one_bad_record_is_counted_as_one_error(tmp_path):
    """Review: the closing advice was counted as a problem, so one bad record read "2 error(s)"."""
    (tmp_path / "bad.json").write_text(json.dumps({"id": "OSV-1", "modified": "nope"}))
    with pytest.raises(InputError) as exc:
        osv.read_paths([tmp_path / "bad.json"])
    first = exc.value.render().splitlines()[0]
    assert first.endswith("1 error(s)") and "nothing was imported" in first


def test_the_probe_says_empty_only_when_the_feed_certainly_is(tmp_path, engine):
    """A worker skips loading SQLAlchemy when the feed is provably empty; anything it cannot tell
    (a damaged file, another database) goes to the feed itself, which calls it broken."""
    from lab.catalogue.models import Vulnerability
    from lab.supply.feed_probe import TABLE, known_empty

    assert Vulnerability.__tablename__ == TABLE
    assert known_empty(None) and known_empty(f"sqlite:///{tmp_path / 'absent.db'}")
    bare = tmp_path / "bare.db"
    sqlite3.connect(bare).execute("CREATE TABLE runs (id INTEGER)").connection.commit()
    assert known_empty(f"sqlite:///{bare}")
    url = str(engine.url)
    assert known_empty(url)  # the feed's table, no record
    (tmp_path / "r.json").write_text(json.dumps(record()))
    osv.import_records(engine, osv.read_paths([tmp_path / "r.json"]))
    assert not known_empty(url)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database, " * 400)
    assert not known_empty(f"sqlite:///{corrupt}")
    assert not known_empty("postgresql+psycopg://lab@127.0.0.1:5433/lab")
    assert not known_empty(f"sqlite:///file:{tmp_path / 'c.db'}?mode=ro&uri=true")
    spaced = tmp_path / "my cat.db"  # review: SQLAlchemy decodes %20, the probe read another file
    spaced.write_bytes(Path(engine.url.database).read_bytes())
    assert not known_empty(f"sqlite:///{str(spaced).replace(' ', '%20')}")

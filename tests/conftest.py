"""Fixtures for the harness's own tests: the default inventory, real containers, and a guard
that fails the session if any container outlives the tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from lab.inventory import load_inventory
from lab.runid import new_run_id

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def inventory():
    return load_inventory(ROOT / "targets.toml")


@pytest.fixture(scope="session")
def engine():
    from lab.engine import client

    return client()  # raises if no engine: an integration test must fail, not skip, without one


@pytest.fixture(scope="session")
def built(inventory, engine):
    """Build (or find up to date) the image of a default target, once per session."""
    from lab.images.build import build_target

    done = {}

    def get(name: str):
        if name not in done:
            build_target(inventory, inventory.model.get(name))
            done[name] = inventory.model.get(name)
        return done[name]
    return get


@pytest.fixture(scope="module")
def bookworm(inventory, built):
    """A provisioned debian12-x86_64 container shared by a module's tests."""
    from lab.provision import provision

    target = built("debian12-x86_64")
    with provision(target, new_run_id("test"), inventory.model.lab) as p:
        yield p


def _lab_containers() -> set[str]:
    """Lab containers whose owner is this session or gone: another session's live containers
    (several test sessions may share a machine) are none of ours."""
    try:
        from lab.engine import LABEL_RUN, client
        from lab.provision.container import LABEL_PID
        from lab.provision.gc import alive

        mine = str(os.getpid())
        return {c.name for c in client().containers.list(all=True, filters={"label": LABEL_RUN})
                if c.labels.get(LABEL_PID) == mine or not alive(c.labels.get(LABEL_PID, ""))}
    except Exception:
        return set()


def _reports_tree() -> dict[str, tuple[int, int]]:
    """The lab's own reports/ (catalogue, runs, site, history): name -> (size, mtime)."""
    reports = ROOT / "reports"
    if not reports.exists():
        return {}
    return {str(p.relative_to(reports)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in reports.rglob("*") if p.is_file()}


def pytest_sessionstart(session):
    session.config._lab_before = _lab_containers()
    session.config._reports_before = _reports_tree()
    # Tests sign with a key of their own, never the lab's (subprocesses inherit it).
    key_dir = session.config._lab_key_dir = Path(tempfile.mkdtemp(prefix="lab-test-key-"))
    os.environ["LAB_SIGNING_KEY"] = str(key_dir / "signing-key.pem")
    # ... and record into a catalogue of their own, whatever command a test runs.
    os.environ["LAB_CATALOGUE"] = f"sqlite:///{key_dir / 'catalogue.db'}"
    # ... and a dependency cache of their own (lab/cache): never the user's.
    os.environ["LAB_CACHE"] = str(key_dir / "dependency-cache")


def _say(session, text: str, **markup) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(text, **markup)


def pytest_sessionfinish(session, exitstatus):
    """No container may outlive the tests, and the lab's own reports/ is never written: either
    fails the session."""
    changed = sorted(set(_reports_tree().items()) ^ set(getattr(session.config, "_reports_before", {}).items()))
    if changed:
        _say(session, f"the tests changed the lab's own reports/: {', '.join(sorted({c[0] for c in changed})[:10])}",
             red=True)
        session.exitstatus = 1
    left = _lab_containers() - getattr(session.config, "_lab_before", set())
    if left:
        from lab.engine import client

        _say(session, f"LEAK: containers left behind by the tests: {', '.join(sorted(left))}", red=True)
        for name in left:
            client().containers.get(name).remove(force=True)
        session.exitstatus = 1
    # the session's own key, catalogue and dependency cache go with it (158 were found left in /tmp)
    if (key_dir := getattr(session.config, "_lab_key_dir", None)) is not None:
        built_layers = any((key_dir / "dependency-cache").glob("*/layers/*.json"))
        shutil.rmtree(key_dir, ignore_errors=True)
        if built_layers:  # and the prepared layers its runs built (lab.cache.layers), now without a record
            from lab.cache.layers import orphans
            from lab.cache.store import PackageCache

            orphans(PackageCache(key_dir / "dependency-cache", 0))


@pytest.fixture(scope="session")
def engines():
    """A real PostgreSQL cluster and RabbitMQ node of the tests' own (loopback, free ports, a
    temporary state folder), for the service's integration tests; stopped and removed at the end."""
    import shutil

    from lab.centre.engines import Postgres, Rabbit, free_port

    base = Path(tempfile.mkdtemp(prefix="lab-engines-"))
    base.chmod(0o755)  # PostgreSQL runs as its own user and must reach its folder
    pg, rabbit = Postgres(base / "postgresql", free_port()), Rabbit(base / "rabbitmq", free_port())
    try:
        pg.start()
        rabbit.start()
        yield pg, rabbit
    finally:
        pg.stop()
        rabbit.stop()
        shutil.rmtree(base, ignore_errors=True)


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from the code")


# --- fixtures of the unit tests' shared helpers (tests/centre_app.py, tests/archives.py,
# tests/local_shell.py): defined here, so the modules that use them import nothing for them ------

@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A centre database migrated once for the module: each test starts from a copy."""
    from lab.catalogue.db import open_catalogue

    path = tmp_path_factory.mktemp("template") / "centre.db"
    open_catalogue(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def quick_hashes(monkeypatch):
    """argon2 at its lowest cost: the tests check that it is used, not how long it takes (the
    centre's modules use it for every test: ``pytestmark = pytest.mark.usefixtures("quick_hashes")``)."""
    from argon2 import PasswordHasher

    from lab.centre import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(auth, "_dummy", [])


@pytest.fixture
def centre(tmp_path, template, quick_hashes):
    """The centre's app in this process, on a copy of ``template`` (tests/centre_app.py)."""
    from tests.centre_app import Centre

    return Centre(tmp_path, template)


@pytest.fixture
def acme(tmp_path) -> bytes:
    """The acme-calc example as a vendor uploads it (a .tar.gz)."""
    from tests.centre_app import folder_like_acme, tar_gz

    return tar_gz(folder_like_acme(tmp_path))


@pytest.fixture
def scene(tmp_path):
    """A folder with a decoy secret beside the unpack folder (tests/archives.py)."""
    from tests.archives import make_scene

    return make_scene(tmp_path)


@pytest.fixture
def shell():
    """A local ``sh`` behind the lab's shell framing (tests/local_shell.py)."""
    from lab.transport.shell import PersistentShell
    from tests.local_shell import LocalChannel

    s = PersistentShell(LocalChannel(), "local")
    yield s
    s.close()

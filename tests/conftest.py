"""Fixtures for the harness's own tests: the default inventory, real containers, and a guard
that fails the session if any container outlives the tests."""

from __future__ import annotations

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
    try:
        from lab.engine import LABEL_RUN, client

        return {c.name for c in client().containers.list(all=True, filters={"label": LABEL_RUN})}
    except Exception:
        return set()


def pytest_sessionstart(session):
    session.config._lab_before = _lab_containers()


def pytest_sessionfinish(session, exitstatus):
    """No container may outlive the tests: a teardown hole fails the session."""
    left = _lab_containers() - getattr(session.config, "_lab_before", set())
    if left:
        from lab.engine import client

        session.config.get_terminal_reporter().write_line(
            f"LEAK: containers left behind by the tests: {', '.join(sorted(left))}", red=True)
        for name in left:
            client().containers.get(name).remove(force=True)
        session.exitstatus = 1


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from the code")

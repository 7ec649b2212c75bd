"""What the checks of one target hand on to later checks, as one typed object.

Before, a dict of string keys carried this between suites; a typo there was a silent ``None``.
Each field says which check writes it and which read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Future

    from lab.database.server import Credentials, DatabaseServer
    from lab.deploy.deployment import Deployment
    from lab.observe.owners import Owners
    from lab.observe.state import FsState
    from lab.service import Readiness
    from lab.supply.collect import Supply


@dataclass
class RunState:
    deployment: Deployment | None = None       # planned once; install.package installs it
    before_install: FsState | None = None       # install.package, before; security and leftovers compare
    passwd_before: bytes | None = None          # install.package, before: /etc/passwd, for new accounts
    installed: FsState | None = None            # install.package, after (and again after install.idempotent)
    owners: Owners | None = None                # who put each path there (product, OS package, scripts)
    uninstalled: bool = False                   # install.uninstall succeeded: install.leftovers applies
    ports_before: set[int] = field(default_factory=set)  # listeners before the service started
    # processes running before the service started, seen from outside (None: a board, no outside view)
    processes_before_service: set[int] | None = None
    readiness: Readiness | None = None          # the service fixture; service.* and footprint read it
    database: tuple[DatabaseServer, Credentials] | None = None  # started on first use
    schema_applied: bool = False                # database.schema; database.checks needs it
    supply: Supply | None = None                # the first supply check; the others and the certificate read it
    runner: Future | None = None                # the vendor-test runner's container, started early (vendor.tests)

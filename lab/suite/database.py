"""The run's database on a stack target, started once per worker when a check needs it."""

from __future__ import annotations

from lab.database.server import Credentials, DatabaseServer, ExternalServer, InTargetServer
from lab.errors import NotApplicable
from lab.suite.applicable import database_reason


def start_database(lab) -> tuple[DatabaseServer, Credentials]:
    """(server, credentials), started on first use; ``NotApplicable`` when the target offers no engine
    the submission claims; ``InfrastructureError`` when the server does not start."""
    if lab.state.database is not None:
        return lab.state.database
    target = lab.target_spec
    spec = target.database
    if why := database_reason(lab.submission.model, target):
        raise NotApplicable(why)
    p = lab.provision()
    if spec.external:
        server: DatabaseServer = ExternalServer(spec, lab.inventory.model.lab.allowed_networks)
    else:
        server = InTargetServer(spec, p.transport)
    lab.defer(server.stop)
    server.adopt = p.observer().adopt
    adopted = p.observer().adopt()  # the server's processes are the lab's, not the product's daemons
    creds = server.start()
    adopted()
    p.transport.secrets.add(creds.password)
    p.facts = p.facts.model_copy(update={"db_version": server.version() or None})
    lab.state.database = (server, creds)
    return server, creds


def database_env(lab) -> dict[str, str]:
    """DB_* for the vendor's service and tests, when the target offers an engine the submission claims."""
    try:
        return start_database(lab)[1].env()
    except NotApplicable:
        return {}

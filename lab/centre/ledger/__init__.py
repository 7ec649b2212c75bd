"""The cell ledger: the state machine over ``Cell`` rows, the only place a cell's state lives.

A *cell* is one submission x target; each of its rows is one *attempt* (1, 2, ...). The highest
attempt is the *current* one and the only one that can be ``queued`` or ``running``: every
earlier attempt has ended (``broken`` "worker NAME lost" when it was taken over, or a result an
engineer requeued). So a cell has exactly one final result: the current attempt, once it is
``passed``/``failed``/``broken``/``skipped``; nothing else can write it, because only the current
attempt's credential (handed out once, stored as its sha256) may finish it.

States of an attempt::

    queued --claim--> running --finish(credential)--> passed | failed | broken | skipped
                        |  no heartbeat for lost_after_s, then a claim or the sweep:
                        +--> broken "worker NAME lost"  + attempt N+1 queued/running
                             (or, past settings.cell_attempts, broken for good with that reason)

A redelivered task whose cell is running on a live worker is told to come back later
(``CellBusy``), and a cell that is done is not claimed again (``CellDone``).

Engines' traps this design answers (see also lab.centre.tasks):

- a Redis broker's visibility timeout would re-deliver a long task while it still runs: the
  centre uses RabbitMQ, and even then the ledger refuses a second live run;
- RabbitMQ's consumer timeout cancels a delivery unacknowledged for too long: engines.Rabbit sets
  it to a day, above [lab.limits] worker_timeout (2 h by default), the bound of one cell's run;
- a cell pinned to one board hangs when that board's only worker dies: ``stuck`` lists the
  queued cells of targets that no live worker serves, for the engineers' console.

Every function takes a ``Session`` and leaves committing to the caller. The modules, one job each:
``queries`` (reading), ``transitions`` (the writers' common steps and the submission lock),
``plan`` (first attempts, requeue), ``claim``, ``running`` (heartbeat, finish, release), ``lost``
(the sweep's takeovers and lost messages), ``workers``, ``errors``. This package gathers their
public names, so callers write ``ledger.claim(...)``.
"""

from lab.centre.ledger.claim import Claim, claim
from lab.centre.ledger.errors import (
    AttemptsUsed,
    BadCredential,
    CellBusy,
    CellDone,
    LedgerError,
    Superseded,
    UnknownCell,
)
from lab.centre.ledger.lost import lost, published, take_over, unheard
from lab.centre.ledger.plan import plan_cells, requeue
from lab.centre.ledger.queries import (
    ACTIVE,
    VERDICTS,
    aware,
    cell_view,
    cell_views,
    current,
    current_cells,
    overdue,
    submission_state,
    utcnow,
)
from lab.centre.ledger.running import attempt_of, finish, heartbeat, release
from lab.centre.ledger.transitions import hash_credential
from lab.centre.ledger.workers import live_workers, register_worker, stuck

__all__ = [
    "ACTIVE", "VERDICTS", "AttemptsUsed", "BadCredential", "CellBusy", "CellDone", "Claim", "LedgerError",
    "Superseded", "UnknownCell", "attempt_of", "aware", "cell_view", "cell_views", "claim", "current",
    "current_cells", "finish", "hash_credential", "heartbeat", "live_workers", "lost", "overdue", "plan_cells",
    "published", "register_worker", "release", "requeue", "stuck", "submission_state", "take_over", "unheard",
    "utcnow",
]

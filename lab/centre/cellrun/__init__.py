"""What a worker does with one cell, over HTTP only (no shared filesystem, no database):

1. on a board, wait for this host's lock of the board (two workers here that both declare it run
   its cells one after the other; the ledger refuses a second live cell of a board anywhere);
2. claim the cell (``POST /api/v1/worker/cells/{id}/claim``): a credential for this attempt;
3. download the submission and check its sha256;
4. run the one target as ``lab run --targets X --no-report`` would: ``lab.run.controller.execute``
   with a ``Plan`` of that target into a private temporary folder, while a thread sends a
   heartbeat every ``heartbeat_s`` (and stops the run if the attempt was taken over);
5. upload the run folder as a ``.tar.gz`` (retrying with backoff while the API is unreachable or
   restarting; a repeated upload is answered as the first); the service signs the certificate;
6. remove the temporary folder.

SIGTERM (``lab worker`` being stopped) stops the run: the harness's workers tear their containers
down, the attempt is given back (``release``) and queued again for another worker.

Each attempt runs under a run id of its own (``<submission run id>.c<attempt cell id>``): the
containers a run leaves are removed by run id, so two cells of one submission on one host never
remove each other's containers. Containers whose owner process is gone (a worker killed with
SIGKILL) are removed before each cell.

A run of one cell is bounded by ``[lab.limits] worker_timeout`` (execute stops it there), which must
stay below RabbitMQ's consumer timeout (a day, set by engines.Rabbit): a delivery unacknowledged
longer would be cancelled by the broker and the cell delivered again.

The modules, one step each: ``host`` (1, and the folders and containers killed workers left),
``claim`` (2), ``download`` (3), ``execute``, ``heartbeat`` and ``signals`` (4), ``upload`` (5, and
the release), ``run`` (all of them in order); ``client`` is the API, ``identity`` the worker,
``retry`` how a cell is put off. This package gathers the names ``lab worker`` and the tasks use.
"""

from lab.centre.cellrun.client import Service
from lab.centre.cellrun.host import clean_stale, collect_orphans
from lab.centre.cellrun.identity import WorkerIdentity, worker_token
from lab.centre.cellrun.retry import API_RETRIES, API_RETRY_S, Retry
from lab.centre.cellrun.run import run_one

__all__ = ["API_RETRIES", "API_RETRY_S", "Retry", "Service", "WorkerIdentity", "clean_stale", "collect_orphans",
           "run_one", "worker_token"]

"""Cells as Celery tasks on RabbitMQ: one durable queue per target, ``target.<name>``, so a worker
consumes only the targets it serves; one task, ``lab.run_cell(cell_id)``, per cell.

The message only says *which* cell; the ledger (PostgreSQL) says whether it still needs running,
so a message delivered twice (a broker restart, a lost connection, a retry) never runs a cell
twice to a result: the second claim finds the cell running on a live worker (retried later) or
done (dropped).

Delivery guarantees and the engines' traps:

- ``acks_late`` + ``reject_on_worker_lost``: the message is acknowledged only when the task has
  ended, so a worker killed mid-cell gives its message back to RabbitMQ, which re-delivers it to
  another worker; the ledger's attempt count (``settings.cell_attempts``) bounds how often a cell
  is started again, whatever the broker does;
- ``worker_prefetch_multiplier = 1``: a worker holds only the messages it is running, so queued
  cells stay in RabbitMQ for whichever worker frees a slot first;
- ``task_acks_on_failure_or_timeout``: a task that failed has said so to the ledger (or the
  ledger's heartbeat sweep catches it); its message is not re-delivered for ever;
- ``worker_cancel_long_running_tasks_on_connection_loss = False``: when the AMQP connection
  drops (a RabbitMQ restart), running cells go on and upload their results over HTTP; the
  re-delivered copies of their messages find them running (busy) or done;
- a Redis broker's visibility timeout would re-deliver any task running longer than it (one
  hour by default) to a second worker while the first still runs: the centre uses RabbitMQ;
- RabbitMQ's consumer timeout (30 min by default) would cancel a delivery unacknowledged that
  long and close the channel: engines.Rabbit sets it to a day; one cell's run is bounded by
  ``[lab.limits] worker_timeout`` (2 h by default), which must stay below it;
- publisher confirms (``confirm_publish``): ``enqueue`` returns only once RabbitMQ has the message
  (durable queue, persistent message), so it survives a broker restart.
"""

from __future__ import annotations

import contextlib
import functools
import logging

from celery import Celery
from kombu import Exchange, Queue

from lab.centre.cellrun import API_RETRIES, API_RETRY_S, Retry, WorkerIdentity, run_one, worker_token
from lab.errors import InfrastructureError
from lab.settings import Settings
from lab.settings import settings as load_settings

TASK = "lab.run_cell"
log = logging.getLogger("lab.centre.tasks")

__all__ = ["API_RETRIES", "API_RETRY_S", "IDENTITY", "TASK", "WorkerIdentity", "app_for",
           "enqueue", "get_app", "queue_for", "queue_name", "ready_messages", "run_cell", "worker_token"]


def queue_name(target: str) -> str:
    return f"target.{target}"


def queue_for(target: str) -> Queue:
    """The durable queue of one target, bound to a direct exchange of the same name."""
    name = queue_name(target)
    return Queue(name, Exchange(name, type="direct", durable=True), routing_key=name, durable=True)


IDENTITY: WorkerIdentity | None = None


def configure(app: Celery) -> Celery:
    app.conf.update(
        task_serializer="json", accept_content=["json"], result_serializer="json",
        task_ignore_result=True, result_backend=None,
        task_acks_late=True, task_reject_on_worker_lost=True, task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_default_queue="lab.default", task_create_missing_queues=True,
        task_default_delivery_mode="persistent",
        broker_connection_retry_on_startup=True, broker_connection_max_retries=None,
        broker_transport_options={"confirm_publish": True},
        broker_pool_limit=4,
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5,
                                   "interval_max": 2},
        worker_enable_remote_control=False, worker_send_task_events=False,
        enable_utc=True, timezone="UTC",
    )
    return app


@functools.cache
def app_for(broker_url: str) -> Celery:
    """The Celery application on this broker (one per URL, per process), with ``lab.run_cell``."""
    app = configure(Celery("lab", broker=broker_url, set_as_current=False))
    app.task(name=TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=API_RETRIES)(run_cell)
    return app


def get_app(settings: Settings | None = None) -> Celery:
    return app_for((settings or load_settings()).broker_url)


def __getattr__(name: str):
    """``lab.centre.tasks.app``: the application of this process's settings (built on first use)."""
    if name == "app":
        return get_app()
    raise AttributeError(name)


def enqueue(cell, settings: Settings | None = None) -> None:
    """Publish ``lab.run_cell(cell.id)`` to the cell's target queue (declared on the way).

    Call it after the cell's row is committed (or inside the transaction that holds the
    submission's lock: a claim waits for that lock). Raises ``InfrastructureError`` if RabbitMQ
    does not confirm the message."""
    app = get_app(settings)
    try:
        app.send_task(TASK, args=[int(cell.id)], queue=queue_for(cell.target))
    except Exception as exc:  # kombu's and amqp's errors: the broker is down or refused it
        raise InfrastructureError(f"the broker did not take cell {cell.id} ({cell.target}): "
                                  f"{type(exc).__name__}: {exc}") from None


def ready_messages(targets, settings: Settings | None = None) -> dict[str, int]:
    """How many messages wait in each target's queue, as RabbitMQ says (a passive declare: no queue
    is created); a queue that does not exist holds none. Raises ``InfrastructureError`` when the
    broker cannot be asked (then nothing is judged lost)."""
    from amqp.exceptions import NotFound

    app = get_app(settings)
    counts: dict[str, int] = {}
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            for target in sorted(set(targets)):
                channel = conn.channel()
                try:
                    _name, count, _consumers = channel.queue_declare(queue=queue_name(target), passive=True)
                    counts[target] = count
                except NotFound:
                    counts[target] = 0
                finally:
                    with contextlib.suppress(Exception):
                        channel.close()
    except Exception as exc:  # kombu's and amqp's errors: the broker is down
        raise InfrastructureError(f"cannot ask the broker for its queues: {type(exc).__name__}: {exc}") from None
    return counts


def run_cell(self, cell_id: int) -> str:
    """The task: run one cell on this worker (``lab.centre.cellrun``), over HTTP only.

    When the cell runs on another live worker, its board is busy, or the API cannot be reached,
    the task comes back later (a new message with a countdown); the ledger decides the rest."""
    if IDENTITY is None:
        raise RuntimeError("lab.run_cell runs only inside `lab worker`")
    key = (self.request.delivery_info or {}).get("routing_key") or ""
    target = key.removeprefix("target.") if key.startswith("target.") else None
    try:
        return run_one(int(cell_id), IDENTITY, target=target, retries=self.request.retries or 0)
    except Retry as again:
        log.info("cell %s: %s; again in %.0f s", cell_id, again, again.after)
        raise self.retry(countdown=again.after, max_retries=API_RETRIES) from None

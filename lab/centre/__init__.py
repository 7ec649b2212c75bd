"""The centre as a service (``lab serve``, ``lab worker``): vendors submit over the web, cells
(submission x target) are spread over the lab's hosts through Celery on RabbitMQ, PostgreSQL
keeps the record, buyers read the published catalogue.

The data flow is the command line's: each cell is the plan -> execute -> finish path of one
target, run by a worker host, its results uploaded to the API, which signs and records them.
"""

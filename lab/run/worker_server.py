"""The module the server that forks ``lab run``'s workers imports first (``lab.run.forking.preload``):
it names the process for whoever reads ``ps``, then imports what every worker needs
(``lab.run.preload``). Imported nowhere else."""

from setproctitle import setproctitle

from lab.run import preload

setproctitle("lab run: the server its workers are forked from")
preload.load()

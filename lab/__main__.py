"""``lab`` and ``python -m lab``: the command line, with the workers' server started first for a run."""

import sys


def runs_workers(args: list[str]) -> bool:
    """Whether the command line (without the program's name) is a ``lab run`` that starts workers:
    the command comes first (``lab`` has no options of its own), and a dry run or a help starts none."""
    return args[:1] == ["run"] and not {"--dry-run", "--help"} & set(args[1:])


def main() -> None:
    """For ``lab run``, the server its workers are forked from (``lab.run.forking``) starts before
    anything else: its imports take longer than this process's own start (the command line's
    modules, the inventory, the submission, the catalogue), and nothing in it waits for them. (An
    option the command line then refuses leaves it to end by itself, within half a second.)"""
    if runs_workers(sys.argv[1:]):
        from lab.run.forking import preload

        preload()
    from lab.cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()

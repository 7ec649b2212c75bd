"""``lab`` and ``python -m lab``: the command line, with the workers' server started first for a run."""

import sys


def main() -> None:
    """For ``lab run``, the server its workers are forked from (``lab.run.forking``) starts before
    anything else: its imports take longer than this process's own start (the command line's
    modules, the inventory, the submission, the catalogue), and nothing in it waits for them."""
    if sys.argv[1:2] == ["run"] and not {"--dry-run", "--help"} & set(sys.argv[2:]):
        from lab.run.forking import preload

        preload()
    from lab.cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()

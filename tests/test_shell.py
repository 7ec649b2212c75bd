"""The framing of the persistent shell, over a local ``sh`` (fast; no container needed): exit code,
stdout and stderr exact to the byte, a command that cannot break its frame or leak state into the
next, the shell leading its own process group, long and quiet commands, a daemon's late output, one
pool serving threads. Timeouts are in tests/test_shell_timeouts.py, the output cap in
tests/test_shell_output_cap.py, hostile names in tests/test_shell_hostile_names.py."""

from __future__ import annotations

import os
import threading
import time

from lab.transport.pool import ShellPool
from tests.local_shell import LocalChannel


def test_exit_code_stdout_stderr_are_separate_and_exact(shell):
    r = shell.run("printf 'out\\nno-newline'; printf 'err' >&2; exit 7", 10)
    assert (r.exit_status, r.stdout, r.stderr) == (7, "out\nno-newline", "err")


def test_quoting_heredoc_markers_and_binary(shell):
    tricky = "echo \"$HOME\" '$HOME' `echo x` \\\\ ; cat <<'EOF'\nLAB_END_fake 1 E_0123456789abcdef 0\nEOF"
    r = shell.run(tricky, 10)
    assert r.stdout.splitlines()[1] == "LAB_END_fake 1 E_0123456789abcdef 0"
    assert r.stdout.splitlines()[0].endswith("$HOME x \\")
    r = shell.run("head -c 300000 /dev/urandom | tee /tmp/.lab-bin | wc -c; cat /tmp/.lab-bin >&2", 10)
    assert int(r.stdout) == 300000 and len(r.stderr_bytes) == 300000


def test_a_command_cannot_break_the_frame(shell):
    """Unbalanced parentheses and quotes, an `exit`, a closed stdout: only the command is affected."""
    for command, code in ((") ; echo injected ; (", 2), ("echo 'unterminated", 2), ("exit 9", 9),
                          ("exec >&- 2>&-; echo gone", 1), ("trap 'kill 0' EXIT; sleep 0.1 & echo bg", 143),
                          ("kill -INT 0; kill -HUP 0", 130)):
        r = shell.run(command, 10)
        assert r.exit_status in (code, 2) and "injected" not in r.stdout
    assert shell.run("echo fine; trap; echo $$", 10).stdout == f"fine\n{shell.pid}\n"  # the same shell
    r = shell.run("sh -c 'kill -TERM $$; sleep 5'; echo $?", 10)  # commands get default dispositions
    assert r.stdout == "143\n"


def test_state_does_not_leak_between_commands(shell):
    shell.run("cd /; X=1; export Y=2; set -- a b; umask 077", 10)
    r = shell.run('echo "[$X][$Y][$#][$(umask)]"; read line; echo "stdin=[$line]"', 10)
    assert r.stdout == "[][][0][0022]\nstdin=[]\n"


def test_the_shell_leads_its_own_process_group(shell):
    """So a timeout kills its command's group, never the group of the process that started it."""
    assert shell.pgid == shell.pid != str(os.getpgid(0))


def test_a_command_longer_than_one_argv_string_still_runs(shell):
    long = "x=" + "a" * 200_000 + "; echo ${#x}"
    assert shell.run(long, 10).stdout == "200000\n"


def test_a_quiet_command_longer_than_one_read_is_not_a_timeout(shell):
    r = shell.run("sleep 6; echo done", 20)
    assert (r.exit_status, r.stdout) == (0, "done\n")


def test_what_a_daemon_prints_between_commands_is_not_the_next_commands(shell, tmp_path):
    flag = tmp_path / "printed"
    shell.run(f"(sleep 0.2; echo LATE; echo LATE >&2; touch {flag}) &", 10)
    while not flag.exists():
        time.sleep(0.05)
    r = shell.run("echo now", 10)
    assert (r.stdout, r.stderr) == ("now\n", "")


def test_one_pool_serves_threads_each_with_its_own_shell():
    pool = ShellPool("local", LocalChannel)
    results = {}

    def work(i):
        results[i] = [pool.run(f"echo {i}-{n}; echo e{i} >&2; sleep 0.1", 10).stdout for n in range(5)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        pool.close()
    assert results == {i: [f"{i}-{n}\n" for n in range(5)] for i in range(3)}

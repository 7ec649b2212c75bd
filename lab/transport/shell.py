"""A persistent shell on a target, with framing, so a command costs a pipe write and one fork, not
processes.

Stock ``docker exec`` (and testinfra's ``docker://``) starts a process per command: about 100 ms.
Here one ``sh`` stays open and each command is framed::

    ( eval '<command>' ) </dev/null
    printf 'E_<token> %d\\n' $?; printf E_<token> >&2

The command's stdout and stderr are the shell's own, so they stream back on the channel's two
streams, exact, even binary, and nothing but the subshell's fork runs in the target: every exec
there costs about a millisecond (on an emulated target, a qemu start). The end markers carry a
fresh random token, so no output can fake them; what arrives between frames (a daemon an earlier
command left holding the shell's output) is dropped before the next command is sent.

The controller does what ``timeout`` and ``head`` did inside the target before:

- The output cap (``Transport.output_max_bytes``, from ``[lab.limits] output_max_bytes``) is kept
  as the bytes arrive, per command and stream: up to the cap they come back exact; beyond it, the
  first and last half-cap with the cut stated between them, in linear time and bounded memory::

      [... 31457280 bytes cut by the lab: the command printed 33554432 bytes ...]

  The bytes beyond the cap still cross the channel (at its speed: about 1-2 s for 128 MiB through
  ``docker exec``), but no longer the target's disk.

- At the deadline it opens a second channel to the target (``Channel.sibling``) and kills the
  command's processes there: SIGTERM, SIGKILL 2 s later, as ``timeout -k 2`` did. The shell is
  made the leader of its own process group when it starts, so "the command's processes" are
  exactly those of that group started since the command began (what ``timeout`` killed: the group
  it made), found in ``/proc``; without ``setsid`` on the target, the subshell's descendants. The
  shell then ends the frame itself and stays usable; a shell that does not (a wedged target) is
  closed and the pool (``lab.transport.pool``) opens another. There is no timer inside the target any more: a command
  outlives a controller killed in the middle of it, until the target's teardown or reset.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shlex
import time

from lab.errors import CommandTimeout, ConnectionLost, InfrastructureError
from lab.transport.base import OUTPUT_MAX_BYTES, CommandResult
from lab.transport.channel import STDOUT, Channel

START_S = 60.0  # for a new shell to answer its first frame
KILL_S = 20.0  # for the second channel to open and kill a timed-out command
GRACE_S = 10.0  # after the kill, for the shell to end the timed-out command's frame
DRAIN_READS = 64  # at most, before a command: a daemon that never stops writing is not waited out
# The lab's commands' PATH on a target: the system's folders only, bin first (where every tool the
# lab calls lives on Debian; a program a package puts in sbin under such a name is a finding of
# security.system_files, lab.observe.findings.SHADOWING, whichever comes first).
SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
# Put before a vendor's command run through a lab shell (``env VENDOR_PATH cmd``, or
# ``VENDOR_PATH; export PATH; cmd``): the target's own PATH, as the shell found it.
VENDOR_PATH = 'PATH="${LAB_TARGET_PATH:-$PATH}"'


class CappedStream:
    """One stream of one command, as it arrives: every byte up to ``cap``; beyond, its first half,
    its last half and its length. Memory stays under about twice the cap; each byte is copied a
    bounded number of times."""

    def __init__(self, cap: int):
        self.cap = max(2, cap)
        self.head_keep = self.cap // 2
        self.tail_keep = self.cap - self.head_keep
        self.data = bytearray()  # grows in place: reading n bytes costs O(n), not O(n^2)
        self.tail: bytearray | None = None  # once beyond the cap
        self.total = 0

    def add(self, chunk: bytes | bytearray | memoryview) -> None:
        self.total += len(chunk)
        if self.tail is None:
            self.data += chunk
            if len(self.data) <= self.cap:
                return
            self.tail = self.data[self.head_keep:]
            del self.data[self.head_keep:]
        else:
            self.tail += chunk
        if len(self.tail) > 2 * self.tail_keep:
            del self.tail[:-self.tail_keep]

    def value(self) -> bytes:
        if self.tail is None:
            return bytes(self.data)
        tail = self.tail[-self.tail_keep:]
        cut = self.total - self.head_keep - len(tail)
        note = f"\n[... {cut} bytes cut by the lab: the command printed {self.total} bytes ...]\n"
        return bytes(self.data) + note.encode() + bytes(tail)


class FramedStream:
    """What one of the channel's streams carried for one frame: the bytes before its end marker,
    capped; with ``line``, the end marker is followed by a line (the exit code)."""

    def __init__(self, end: bytes, cap: int, line: bool):
        self.end, self.line = end, line
        self.pending = bytearray()  # never more than one chunk and a marker
        self.done = False
        self.out = CappedStream(cap)
        self.trailer = b""

    def feed(self, chunk: bytes) -> None:
        if self.done:
            return  # stray bytes after the frame: a daemon an earlier command left behind
        self.pending += chunk
        found = self.pending.find(self.end)
        if found < 0:
            keep = len(self.end) - 1  # the start of an end marker split across reads
            if len(self.pending) > keep:
                with memoryview(self.pending) as view:
                    self.out.add(view[:len(self.pending) - keep])
                del self.pending[:len(self.pending) - keep]
            return
        if found:
            with memoryview(self.pending) as view:
                self.out.add(view[:found])
            del self.pending[:found]
        if self.line:
            newline = self.pending.find(b"\n", len(self.end))
            if newline < 0:
                return  # the line is still coming
            self.trailer = bytes(self.pending[len(self.end):newline])
        self.done = True
        self.pending.clear()


# The command's processes after a timeout, in the shell's own process group and started since its
# subshell ($c; in the same clock tick, a later pid), or (no group of its own) the subshell's
# descendants; fields from /proc/PID/stat after the command name: $1 state, $2 ppid, $3 pgrp,
# ${20} start time in clock ticks.
KILL_SCRIPT = r"""sp={sp}; pg={pg}; c=; t0=
for f in /proc/[0-9]*/stat; do
  read -r l <"$f" 2>/dev/null || continue; set -- ${{l##*) }}
  [ "$2" = "$sp" ] && [ "$1" != Z ] && c=${{f#/proc/}} && c=${{c%/stat}} && t0=${{20}}
done
lab_procs() {{
  ts=; [ -n "$c" ] || return 0
  if [ "$pg" = "$sp" ]; then
    for f in /proc/[0-9]*/stat; do
      read -r l <"$f" 2>/dev/null || continue; set -- ${{l##*) }}
      p=${{f#/proc/}}; p=${{p%/stat}}
      [ "$p" != "$sp" ] && [ "$1" != Z ] && [ "$3" = "$pg" ] || continue
      [ "${{20}}" -gt "$t0" ] || {{ [ "${{20}}" -eq "$t0" ] && [ "$p" -ge "$c" ]; }} && ts="$ts $p"
    done
  else
    ts=" $c "; more=1
    while [ -n "$more" ]; do
      more=
      for f in /proc/[0-9]*/stat; do
        read -r l <"$f" 2>/dev/null || continue; set -- ${{l##*) }}
        p=${{f#/proc/}}; p=${{p%/stat}}
        case "$ts" in *" $p "*) continue;; esac
        case "$ts" in *" $2 "*) [ "$1" != Z ] && ts="$ts$p " && more=1;; esac
      done
    done
  fi
}}
lab_procs; [ -n "$ts" ] && kill -TERM $ts 2>/dev/null
i=0; while [ $i -lt 20 ]; do lab_procs; [ -z "$ts" ] && break; sleep 0.1; i=$((i + 1)); done
i=0; while [ $i -lt 20 ]; do lab_procs; [ -z "$ts" ] && break; kill -KILL $ts 2>/dev/null; i=$((i + 1)); done
printf '{done}'; exit
"""


_MARKER = re.compile(r"[EX]_[0-9a-f]{16}")


def last_words(channel: Channel) -> str:
    """Why the channel ended, as its client said on stderr after the last frame the shell ended: the
    earlier frames' stderr and their end markers are not the reason (a review's reason was a row of
    markers and an old debconf warning)."""
    return _MARKER.split(channel.diagnose())[-1].strip()


def read_frame(channel: Channel, target: str, out: FramedStream, err: FramedStream | None, deadline: float) -> None:
    """Read ``channel`` until both streams have ended their frame (``err`` None: stderr is not
    framed, only kept for ``diagnose``). ``TimeoutError`` at ``deadline``; ``ConnectionLost`` at EOF."""
    while not (out.done and (err is None or err.done)):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        try:
            which, chunk = channel.recv_any(min(left, 5.0))
        except TimeoutError:
            continue  # nothing yet; the loop checks the deadline
        except (OSError, ValueError) as exc:  # the channel was closed under us
            raise ConnectionLost(f"connection to {target} lost: {exc}") from None
        if not chunk:
            why = last_words(channel)
            raise ConnectionLost(f"connection to {target} lost" + (f": {why}" if why else ""))
        if which == STDOUT:
            out.feed(chunk)
        elif err is not None:
            err.feed(chunk)


class PersistentShell:
    def __init__(self, channel: Channel, target: str):
        self.channel = channel
        self.target = target
        self.dead = False
        self._closed = False
        self.pid = self.pgid = ""
        token = secrets.token_hex(8)
        # A shell that is not the leader of its own process group (a local ``sh``, a shell under
        # ``sudo``) becomes one, so a timeout kills its command's processes and nothing else. The
        # ``exec`` ends the line, and the next is sent only once it is read: what the old shell
        # had read but not run would be lost. The group is read from a subshell: qemu-user fakes a
        # process's own /proc/PID/stat (group 0), not its parent's.
        pgid = "l=$(read -r l </proc/$$/stat && set -- ${l##*) } && printf %s \"$3\") 2>/dev/null"
        lead = (f"{pgid}; [ -n \"$l\" ] && [ \"$l\" != \"$$\" ] && command -v setsid >/dev/null 2>&1 && "
                f"{{ printf 'X_{token}'; exec setsid sh; }}; printf 'X_{token}'\n")
        # Its commands share its group, so `kill 0` (a script's `trap 'kill 0' EXIT`) reaches it
        # too: it catches (not ignores: commands would inherit that) what `kill` sends by default.
        # The lab's commands find the system's tools only: a package's /usr/local/bin/ss (or sed, wc,
        # ps) would otherwise answer the lab's checks. The vendor's own commands get the target's
        # PATH back (VENDOR_PATH).
        setup = (f"umask 022; trap : HUP INT QUIT TERM USR1 USR2 ALRM; LAB_TARGET_PATH=$PATH; "
                 f"PATH={SYSTEM_PATH}; export PATH; {pgid}; printf 'E_{token} %s %s\\n' $$ \"$l\"; "
                 f"unset l; printf 'E_{token}' >&2\n")
        try:
            self._send(lead)
            self._frame(FramedStream(f"X_{token}".encode(), 64, False), None, time.monotonic() + START_S)
            self._send(setup)
            out, err = self._streams(token, 64)
            self._frame(out, err, time.monotonic() + START_S)
        except TimeoutError:
            self.close()
            raise ConnectionLost(f"{target}: the shell did not start within {START_S:g} s") from None
        except BaseException:
            self.close()
            raise
        ids = out.trailer.split()
        if not ids or not ids[0].isdigit():
            self.close()
            raise InfrastructureError(f"{target}: the shell did not say its process id ({out.trailer[:40]!r})")
        self.pid = ids[0].decode()
        self.pgid = ids[1].decode() if len(ids) > 1 and ids[1].isdigit() else ""

    @staticmethod
    def _streams(token: str, cap: int) -> tuple[FramedStream, FramedStream]:
        end = f"E_{token}".encode()
        return FramedStream(end + b" ", cap, True), FramedStream(end, cap, False)

    def _send(self, script: str) -> None:
        try:
            self.channel.send(script.encode())
        except OSError as exc:
            self.dead = True
            raise ConnectionLost(f"connection to {self.target} lost: {exc}") from None

    def _drain(self) -> None:
        """Drop what came since the last frame ended (a daemon an earlier command left holding the
        shell's output), so it is not taken for the next command's; a closed channel shows here."""
        for _ in range(DRAIN_READS):
            try:
                _, chunk = self.channel.recv_any(0)
            except TimeoutError:
                return
            except (OSError, ValueError) as exc:
                self.dead = True
                raise ConnectionLost(f"connection to {self.target} lost: {exc}") from None
            if not chunk:
                self.dead = True
                why = last_words(self.channel)
                raise ConnectionLost(f"connection to {self.target} lost" + (f": {why}" if why else ""))

    def _frame(self, out: FramedStream, err: FramedStream | None, deadline: float) -> None:
        try:
            read_frame(self.channel, self.target, out, err, deadline)
        except ConnectionLost:
            self.dead = True
            raise

    def run(self, command: str, timeout: float, output_max_bytes: int = OUTPUT_MAX_BYTES) -> CommandResult:
        if self.dead:
            raise ConnectionLost(f"connection to {self.target} lost: the shell is closed")
        token = secrets.token_hex(8)
        out, err = self._streams(token, output_max_bytes)
        script = (f"( eval {shlex.quote(command)} ) </dev/null\n"
                  f"printf 'E_{token} %d\\n' $?; printf 'E_{token}' >&2\n")
        self._drain()
        started = time.monotonic()
        self._send(script)
        try:
            self._frame(out, err, started + timeout)
        except TimeoutError:
            self._kill_command()
            if not self.dead:
                try:
                    self._frame(out, err, time.monotonic() + GRACE_S)
                except TimeoutError:
                    self.close()
            raise CommandTimeout(command, timeout) from None
        rc = out.trailer.strip()
        if not rc.lstrip(b"-").isdigit():
            self.close()
            raise InfrastructureError(f"{self.target}: a garbled frame from the shell (code {rc[:20]!r}); "
                                      "the shell is closed")
        return CommandResult(command, int(rc), out.out.value(), err.out.value(), time.monotonic() - started)

    def _kill_command(self) -> None:
        """Kill the running command from a second channel, so this shell can end its frame."""
        if not self.pid:
            self.close()
            return
        try:
            sibling = self.channel.sibling()
        except (NotImplementedError, InfrastructureError, OSError):
            self.close()  # nothing else can reach the target: at least the shell goes
            return
        done = f"K_{secrets.token_hex(8)}"
        try:
            sibling.send(KILL_SCRIPT.format(sp=self.pid, pg=self.pgid or "-", done=done).encode())
            read_frame(sibling, self.target, FramedStream(done.encode(), 64, False), None,
                       time.monotonic() + KILL_S)
        except (TimeoutError, OSError, InfrastructureError):
            self.close()  # the command may live on; at least its shell goes
        finally:
            sibling.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.dead = True
        with contextlib.suppress(OSError):
            self.channel.send(b"exit\n")
        self.channel.close()

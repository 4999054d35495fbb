"""Whether the process that ran something is still there (no Dagster imports).

Recovery frees what a dead process held (a run's pool slots), so it must never mistake a live
process for a dead one, and should not mistake a new process that happens to reuse the pid for
the old one: pids wrap around, and on a busy host a killed sync's pid comes back within hours.
"""

import os
import socket
import sys
from pathlib import Path

# The start time we compute is up to a second early (`btime` is whole seconds), never late;
# the slack only absorbs clock adjustments between boot and now.
_START_TIME_SLACK_SECONDS = 2.0


def this_host() -> str:
    """The name recorded with a pid: a pid means nothing on another machine."""
    return socket.gethostname()


def process_alive(pid: int, *, started_before: float | None = None) -> bool:
    """True while process `pid` exists (another user's process counts: we may not signal it, but
    it is there) and is not a zombie. With `started_before` (a Unix time) a process that started
    later is a newcomer that reused the pid, so the process we asked about is gone (Linux only;
    elsewhere the pid alone decides)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return True
    state, start_ticks = stat
    if state == "Z":  # exited, only waiting for its parent to reap it
        return False
    if started_before is not None:
        started = _start_time(start_ticks)
        if started is not None and started > started_before + _START_TIME_SLACK_SECONDS:
            return False
    return True


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (Unix time), on Linux; None elsewhere or when it is gone."""
    stat = _proc_stat(pid)
    return _start_time(stat[1]) if stat else None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) from /proc/<pid>/stat."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 is the command in parentheses and may itself hold spaces and parentheses, so the
    # fields are counted from the last ")": field 3 (state) is the first after it, 22 the 20th.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _start_time(start_ticks: int) -> float | None:
    try:
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return boot + start_ticks / os.sysconf("SC_CLK_TCK")

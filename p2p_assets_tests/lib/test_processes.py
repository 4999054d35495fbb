"""`process_alive` against real processes: alive, exited and reaped, a zombie, and a pid whose
process started after the run it is asked about (as a reused pid would)."""

import os
import socket
import subprocess
import sys
import time

import pytest

from p2p_assets.lib.processes import process_alive, process_start_time, this_host

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_running_process_is_alive():
    child = _sleeper()
    try:
        assert process_alive(child.pid)
        assert process_alive(child.pid, started_before=time.time())
    finally:
        child.kill()
        child.wait()


def test_an_exited_process_is_gone():
    child = _sleeper()
    child.kill()
    child.wait()
    assert not process_alive(child.pid)


@linux_only
def test_a_zombie_is_gone():
    child = _sleeper()
    try:
        child.kill()
        # Not reaped yet: the pid exists and accepts signal 0, but the process is over.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process_alive(child.pid):
            time.sleep(0.05)
        assert os.kill(child.pid, 0) is None
        assert not process_alive(child.pid)
    finally:
        child.wait()


@linux_only
def test_a_process_started_after_the_run_is_not_the_runs_process():
    before = time.time()
    time.sleep(3)  # more than the slack for clock rounding
    child = _sleeper()
    try:
        assert not process_alive(child.pid, started_before=before)
        assert process_alive(child.pid, started_before=time.time())
    finally:
        child.kill()
        child.wait()


@linux_only
def test_the_start_time_is_when_the_process_started():
    before = time.time()
    child = _sleeper()
    try:
        started = process_start_time(child.pid)
        assert started is not None
        assert before - 1.5 <= started <= time.time() + 0.5
    finally:
        child.kill()
        child.wait()


def test_another_users_process_counts_as_alive():
    # pid 1 is init: alive, and not ours to signal unless we are root (EPERM means alive).
    assert process_alive(1)


def test_no_pid_is_alive():
    assert not process_alive(0)
    assert not process_alive(-1)


def test_this_host_is_the_host_name():
    assert this_host() == socket.gethostname()

"""Spike arrest: calls spaced by the pacer (across processes), 429 as the vendor's scripts do,
5xx and 499 retried up to 10 times, other 4xx at once."""

import multiprocessing
from pathlib import Path

import httpx
import pytest

from p2p_assets.lib.visma import Pacer, VismaAPIError, VismaRateLimitError
from p2p_assets_tests.lib.visma.fakes import FakeVisma, json_response, make_client


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacer_spaces_calls_by_the_interval() -> None:
    fake_time = FakeTime()
    pacer = Pacer(0.6, clock=fake_time.clock, sleep=fake_time.sleep)
    times = []
    for _ in range(3):
        pacer.wait()
        times.append(fake_time.now)
        fake_time.now += 0.1  # the call itself
    assert fake_time.sleeps == pytest.approx([0.5, 0.5])
    assert times[1] - times[0] == pytest.approx(0.6)
    fake_time.now += 5
    pacer.wait()
    assert len(fake_time.sleeps) == 2  # a slot long free needs no wait


@pytest.mark.parametrize("shared", [False, True])
def test_the_interval_counts_from_the_answer_when_it_comes_later(
    tmp_path: Path, shared: bool
) -> None:
    # The vendor stamps a call on arrival, before it answers: a call delayed on its way must not
    # let the next one arrive inside the interval, so the pace counts from the answer.
    fake_time = FakeTime()
    state = tmp_path / "pace" if shared else None
    pacer = Pacer(0.6, state_path=state, clock=fake_time.clock, sleep=fake_time.sleep)
    pacer.wait()
    fake_time.now += 0.4  # a slow call
    pacer.done()
    pacer.wait()
    assert fake_time.sleeps == pytest.approx([0.6])


def test_pacers_sharing_a_state_file_share_the_pace(tmp_path: Path) -> None:
    fake_time = FakeTime()
    state = tmp_path / "pace"
    first = Pacer(0.6, state_path=state, clock=fake_time.clock, sleep=fake_time.sleep)
    second = Pacer(0.6, state_path=state, clock=fake_time.clock, sleep=fake_time.sleep)
    first.wait()
    second.wait()
    assert fake_time.sleeps == pytest.approx([0.6])


def _paced_calls(state: str, queue: object, barrier: object) -> None:
    pacer = Pacer(0.05, state_path=state)
    barrier.wait()  # type: ignore[attr-defined]
    for _ in range(5):
        pacer.wait()
        # The slot time the pacer recorded under the shared lock: a timestamp taken after wait()
        # returns would also measure this process's scheduling delay on a busy machine.
        queue.put(pacer._last)  # type: ignore[attr-defined]


def test_processes_share_the_pace(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    barrier = ctx.Barrier(3)
    procs = [
        ctx.Process(target=_paced_calls, args=(str(tmp_path / "pace"), queue, barrier))
        for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    stamps = sorted(queue.get(timeout=10) for _ in range(15))
    for proc in procs:
        proc.join(10)
        assert proc.exitcode == 0
    gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:], strict=False)]
    assert min(gaps) >= 0.05 - 1e-6


def test_429_sleeps_60_s_and_slows_the_pace() -> None:
    fake = FakeVisma()
    answers = iter([429, 429, 200])
    fake.route("GET", "/heartbeat", lambda _: httpx.Response(next(answers)))
    sleeps: list[float] = []
    pacer = Pacer(0.0, sleep=lambda _: None)
    with make_client(fake, pacer=pacer, sleeps=sleeps) as client:
        assert client.heartbeat()
    assert sleeps == [60.0, 60.0]
    assert pacer.interval == pytest.approx(0.2)


def test_429_without_end_raises_a_rate_limit_error() -> None:
    fake = FakeVisma()
    fake.route("GET", "/heartbeat", lambda _: json_response(429, {"message": "Too many requests"}))
    sleeps: list[float] = []
    with make_client(fake, sleeps=sleeps) as client, pytest.raises(VismaRateLimitError) as caught:
        client.heartbeat()
    assert sleeps == [60.0] * 10
    assert "HTTP 429" in str(caught.value) and "/heartbeat" in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503, 499])
def test_5xx_and_499_retried_ten_times_then_raised(status: int) -> None:
    fake = FakeVisma()
    calls = []
    fake.route("GET", "/heartbeat", lambda r: calls.append(r) or json_response(status, {}))
    with make_client(fake) as client, pytest.raises(VismaAPIError) as caught:
        client.heartbeat()
    assert len(calls) == 11
    assert f"HTTP {status}" in str(caught.value) and "11 attempts" in str(caught.value)


def test_5xx_then_success() -> None:
    fake = FakeVisma()
    answers = iter([503, 499, 200])
    fake.route("GET", "/heartbeat", lambda _: httpx.Response(next(answers)))
    with make_client(fake) as client:
        assert client.heartbeat()


@pytest.mark.parametrize("status", [400, 404, 409])
def test_other_4xx_fail_at_once(status: int) -> None:
    fake = FakeVisma()
    calls = []
    body = {"CorrelationId": "rrt-1", "Message": "Error reading body", "ErrorCode": str(status),
            "Exception": None}  # fmt: skip
    fake.route("GET", "/heartbeat", lambda r: calls.append(r) or json_response(status, body))
    sleeps: list[float] = []
    with make_client(fake, sleeps=sleeps) as client, pytest.raises(VismaAPIError) as caught:
        client.heartbeat()
    assert len(calls) == 1 and sleeps == []
    text = str(caught.value)
    assert f"GET /heartbeat answered HTTP {status}" in text
    assert "Error reading body" in text and "rrt-1" in text

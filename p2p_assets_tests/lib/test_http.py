"""The retrying transport: what is retried, how long it waits, and when it stops."""

import logging
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from p2p_assets.lib.http import (
    RetryingTransport,
    RetryPolicy,
    make_timeout,
    parse_retry_after,
    redact_url,
)


class Script:
    """A MockTransport handler answering from a list: an int status, a Response or an exception."""

    def __init__(self, *answers: int | httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            return httpx.Response(answer, json={"n": len(self.requests)})
        return answer


def make_client(
    script: Script, policy: RetryPolicy | None = None, seed: int = 1
) -> tuple[httpx.Client, list[float]]:
    waits: list[float] = []
    transport = RetryingTransport(
        httpx.MockTransport(script), policy, sleep=waits.append, rng=random.Random(seed)
    )
    return httpx.Client(transport=transport, base_url="https://api.example.com"), waits


def test_retries_5xx_then_succeeds() -> None:
    script = Script(503, 502, 200)
    client, waits = make_client(script)
    with client:
        response = client.get("/things")
    assert response.status_code == 200
    assert len(script.requests) == 3
    assert len(waits) == 2


def test_retry_after_seconds_is_honoured() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), 200)
    policy = RetryPolicy(backoff_base=0.5)
    client, waits = make_client(script, policy)
    with client:
        assert client.get("/x").status_code == 200
    assert 7.0 <= waits[0] <= 7.5


def test_retry_after_http_date_is_honoured() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    script = Script(
        httpx.Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)}), 200
    )
    client, waits = make_client(script, RetryPolicy(backoff_base=0.1))
    with client:
        assert client.get("/x").status_code == 200
    assert 27.0 <= waits[0] <= 30.2


def test_retry_after_is_capped() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}), 200)
    client, waits = make_client(script, RetryPolicy(max_retry_after=20.0, backoff_base=0.0))
    with client:
        client.get("/x")
    assert waits == [20.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("-5", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=8.0)
    rng = random.Random(42)
    for retry_number, bound in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        draws = [policy.backoff(retry_number, rng) for _ in range(200)]
        assert all(0.0 <= draw <= bound for draw in draws)
        # full jitter: the draws spread over the whole interval, not just near its top
        assert min(draws) < 0.2 * bound and max(draws) > 0.8 * bound


def test_gives_up_after_max_attempts_and_returns_last_answer() -> None:
    script = Script(500, 500, 500, 200)
    client, waits = make_client(script, RetryPolicy(max_attempts=3))
    with client:
        response = client.get("/x")
    assert response.status_code == 500
    assert response.extensions["retry_attempts"] == 3
    assert len(script.requests) == 3
    assert len(waits) == 2


def test_stops_when_total_time_would_be_exceeded() -> None:
    script = Script(httpx.Response(503, headers={"Retry-After": "50"}), 200)
    client, waits = make_client(script, RetryPolicy(max_total_seconds=10.0))
    with client:
        assert client.get("/x").status_code == 503
    assert waits == []


def test_connection_error_is_retried() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 200)
    client, waits = make_client(script)
    with client:
        assert client.get("/x").status_code == 200
    assert len(waits) == 2


def test_connection_error_gives_up_with_a_note() -> None:
    script = Script(*[httpx.ConnectError("refused")] * 3)
    client, _ = make_client(script, RetryPolicy(max_attempts=3))
    with client, pytest.raises(httpx.ConnectError) as raised:
        client.get("/x")
    assert "gave up after 3 attempt(s)" in raised.value.__notes__


def test_post_is_not_resent_after_it_may_have_arrived() -> None:
    script = Script(httpx.ReadTimeout("slow"), 200)
    client, _ = make_client(script)
    with client, pytest.raises(httpx.ReadTimeout):
        client.post("/x")
    assert len(script.requests) == 1


def test_post_is_resent_when_it_never_arrived_or_was_throttled() -> None:
    script = Script(httpx.ConnectError("refused"), 429, 500, 200)
    client, _ = make_client(script)
    with client:
        assert client.post("/x").status_code == 500


def test_post_is_resent_when_the_client_opts_in() -> None:
    script = Script(httpx.ReadTimeout("slow"), 500, 200)
    client, _ = make_client(script, RetryPolicy(retry_non_idempotent=True))
    with client:
        assert client.post("/x", content=b"body").status_code == 200
    assert [r.content for r in script.requests] == [b"body"] * 3


def test_other_statuses_are_not_retried() -> None:
    script = Script(404, 200)
    client, waits = make_client(script)
    with client:
        assert client.get("/x").status_code == 404
    assert waits == []


def test_retry_log_names_method_status_and_wait_but_no_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script = Script(503, 200)
    client, _ = make_client(script)
    with caplog.at_level(logging.WARNING, logger="p2p_assets.lib.http"), client:
        client.get("/x", params={"file": "A.gz", "sig": "s3cr3t"}, headers={"Authorization": "t0k"})
    message = caplog.records[0].getMessage()
    assert "GET https://api.example.com/x?file=A.gz&sig=***" in message
    assert "503" in message and "retrying in" in message
    assert "s3cr3t" not in caplog.text and "t0k" not in caplog.text


def test_redact_url_drops_userinfo_and_secret_query_values() -> None:
    assert (
        redact_url("https://u:p@h.example/p?file=F&token=T")
        == "https://h.example/p?file=F&token=***"
    )


def test_make_timeout_is_explicit() -> None:
    timeout = make_timeout()
    assert None not in (timeout.connect, timeout.read, timeout.write, timeout.pool)

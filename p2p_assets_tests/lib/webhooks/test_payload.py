"""What the receiver accepts as an event (what the warehouse can take), and an event's key."""

import json

import pytest

from p2p_assets.lib.webhooks import payload

GOOD = {"event": "api_push_update", "requestId": "req-1", "data": {"status": "success"}}


def test_a_documented_event_is_accepted_as_delivered() -> None:
    raw = json.dumps({**GOOD, "data": {"name": "Café ☕ 😀", "n": 10**30}}).encode()
    assert payload.parse(raw)["data"] == {"name": "Café ☕ 😀", "n": 10**30}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (json.dumps([GOOD]).encode(), "not a JSON object but a JSON array"),
        (b'"\\ud800"', "not a JSON object but a JSON string"),
        (b"null", "not a JSON object but a JSON null"),
        (b'{"event": "e", "requestId": "r", "n": NaN}', "NaN is not a JSON number"),
        (b'{"event": "e", "requestId": "r", "n": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"event": "e", "requestId": "r", "n": 1e999}', "1e999 is out of range"),
        (b'{"event": "e", "requestId": "r", "n": ' + b"9" * 5000 + b"}", "not JSON"),
        (
            b'{"event": "e", "requestId": "r", "d": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "nested too deeply",
        ),  # fmt: skip
        (json.dumps({"event": "e"}).encode(), "requestId must be a non-empty string"),
        (json.dumps({"event": "e", "requestId": ""}).encode(), "requestId must be"),
        (json.dumps({"event": 7, "requestId": "r"}).encode(), "event must be a non-empty string"),
    ],
)
def test_a_body_that_is_no_event_is_refused_with_its_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(payload.RefusedEvent, match=reason.replace("[", r"\[")):
        payload.parse(raw)


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"event": "e", "requestId": "r", "message": "\\ud800"}', "$.message"),
        (b'{"event": "e", "requestId": "r", "data": {"x": ["ok", "\\udfff"]}}', "$.data.x[1]"),
        (b'{"event": "e", "requestId": "r", "data": {"\\ud83d": 1}}', "$.data (a key)"),
        (b'{"event": "\\ud800x", "requestId": "r"}', "$.event"),
        # The same surrogate sent as raw (CESU-style) bytes rather than as an escape.
        (b'{"event": "e", "requestId": "r", "m": "\xed\xa0\x80"}', "$.m"),
    ],
)
def test_a_lone_surrogate_anywhere_is_refused_naming_where(raw: bytes, where: str) -> None:
    with pytest.raises(payload.RefusedEvent) as refused:
        payload.parse(raw)
    assert f"the string at {where} is not valid Unicode" in str(refused.value)
    str(refused.value).encode("utf-8")  # the reason itself can always be answered


def test_a_surrogate_pair_is_one_character_and_accepted() -> None:
    assert payload.parse(b'{"event": "\\ud83d\\ude00", "requestId": "r"}')["event"] == "😀"


def test_the_key_is_the_whole_event_however_it_is_formatted() -> None:
    same = json.loads(
        '{"requestId": "req-1", "data": {"status": "success"},\n "event": "api_push_update"}'
    )
    assert payload.event_key(same) == payload.event_key(GOOD)
    assert payload.event_key({**GOOD, "data": {"status": "failed"}}) != payload.event_key(GOOD)
    assert payload.event_key({**GOOD, "requestId": "req-2"}) != payload.event_key(GOOD)


def test_headers_are_kept_without_credentials_or_cookies() -> None:
    kept = payload.kept_headers([
        ("Host", "hooks.example.com"), ("Authorization", "Basic c2VjcmV0"),
        ("Cookie", "session=1"), ("Proxy-Authorization", "Basic eA=="),
        ("X-Sync-ID", "sync-1"), ("x-tracking-id", "trk-1"), ("X-Tracking-ID", "trk-2"),
    ])  # fmt: skip
    assert kept == {"host": "hooks.example.com", "x-sync-id": "sync-1",
                    "x-tracking-id": "trk-1, trk-2"}  # fmt: skip

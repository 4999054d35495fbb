"""The Visma client against the Visma sandbox over real loopback HTTP: the parts each was built
for separately (token caching, pacing under the spike arrest, shrinking listings, resumable
downloads, publishing) have to agree with each other."""

import hashlib
from pathlib import Path

import pytest

from p2p_assets.lib.visma import Pacer, VismaClient, VismaTokenAuth
from p2p_assets.sandbox.visma import VismaSandbox, VismaSandboxConfig


@pytest.fixture
def served(tmp_path: Path):
    # The daily plan's single concurrent call, at any hour: this bare client keeps no ledger
    # (the window and caps are the product's, tested in lib/visma/test_plans.py and the month).
    config = VismaSandboxConfig(
        files_per_type={134001: 3, 113003: 2}, plan="daily", enforce_limits=False
    )
    sandbox = VismaSandbox(config, tmp_path / "sandbox")
    with sandbox.serve() as url:
        yield sandbox, config, url


def _client(config: VismaSandboxConfig, url: str, tmp_path: Path) -> VismaClient:
    auth = VismaTokenAuth(
        config.client_id,
        config.client_secret,
        config.tenant_id,
        token_url=f"{url}/connect/token",
        cache_path=tmp_path / "visma" / "token.json",
    )
    return VismaClient(
        f"{url}/v1.0",
        auth,
        tenant_id=config.tenant_id,
        pacer=Pacer(state_path=tmp_path / "visma" / "pace"),
    )


def test_every_file_lands_once_byte_exact_then_a_published_file_round_trips(served, tmp_path):
    sandbox, config, url = served
    with _client(config, url, tmp_path) as client:
        files = client.list_files()
        assert len(files) == 5
        for file in files:  # listed completely first, then downloaded: nothing skipped
            path, size, sha256 = client.download(file, tmp_path / "landing")
            expected = sandbox.file_bytes(file.file_id)
            assert path.read_bytes() == expected
            assert (size, sha256) == (len(expected), hashlib.sha256(expected).hexdigest())
        assert client.list_files() == []  # downloaded files leave the default listing

        report = tmp_path / "P2P_EXPORT_20260301.csv"
        report.write_text("invoice;amount\r\nINV-1;12.50\r\n")
        published = client.upload(report, 7100)
        mine = [f for f in client.list_files(role="publisher") if f.file_id == published.file_id]
        assert [f.file_name for f in mine] == [report.name]
        path, _, _ = client.download(mine[0], tmp_path / "back", role="publisher")
        assert path.read_bytes() == report.read_bytes()

    counters = sandbox.counters()
    # Paced under the spike arrest instead of provoking 429s.
    assert counters.get("throttled", 0) == 0, sorted(counters.items())
    assert counters["tokens_issued"] == 1


def test_a_second_process_reuses_the_cached_token(served, tmp_path):
    sandbox, config, url = served
    for _ in range(2):  # two clients with separate auth objects, as two processes would have
        with _client(config, url, tmp_path) as client:
            client.list_files()
    counters = sandbox.counters()
    assert counters["tokens_issued"] == 1
    # The pace is shared through a file, as separate processes share it: no 429 either.
    assert counters.get("throttled", 0) == 0, sorted(counters.items())


def test_a_cut_connection_mid_download_resumes(served, tmp_path):
    sandbox, config, url = served
    sandbox.set_faults(drop_next_downloads=1)
    with _client(config, url, tmp_path) as client:
        file = client.list_files()[0]
        path, size, _ = client.download(file, tmp_path / "landing", chunk_size=1 << 30)
    assert path.read_bytes() == sandbox.file_bytes(file.file_id)
    assert size == len(sandbox.file_bytes(file.file_id))

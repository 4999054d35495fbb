"""Visma in live mode: the sandbox served as its own process, the product configured only by
`VISMA_*` variables and run as `p2p-assets sync visma` in a subprocess."""

import hashlib
import os
import stat
from pathlib import Path

from p2p_assets.sandbox.visma import VismaSandbox
from p2p_assets.sandbox.visma.env import config_from_env
from p2p_assets_tests.live.basware import environment
from p2p_assets_tests.live.conftest import VISMA_CREDENTIALS, Product, Served, output

SMALL = {"files_per_type": "1", "spike_arrest_seconds": "0"}


def live_env(served: Served) -> dict[str, str]:
    return {
        "VISMA_API_URL": f"{served.url}/v1.0",
        "VISMA_TOKEN_URL": f"{served.url}/connect/token",
        **VISMA_CREDENTIALS,
    }


def sandbox_of(served: Served) -> VismaSandbox:
    with environment(served.env):
        return VismaSandbox(config_from_env(), served.state_dir)


def assert_truth(user: Product, served: Served, types: set[int] | None = None) -> None:
    """Every file the vendor delivered (of `types`) is in `visma.files`, byte-exact, newest
    snapshot only."""
    sandbox = sandbox_of(served)
    listed = [f for f in sandbox.files() if types is None or f["business_type"] in types]
    newest_snapshot = max(
        (f for f in listed if f["business_type"] == 101002),
        key=lambda f: f["upload_date"],
        default=None,
    )
    expected = {f["id"] for f in listed if f["business_type"] != 101002 or f is newest_snapshot}
    rows = user.query("SELECT file_id, sha256, landing_path FROM visma.files")
    assert {file_id for file_id, _, _ in rows} == expected
    for file_id, sha256, landing_path in rows:
        content = sandbox.file_bytes(file_id)
        assert sha256 == hashlib.sha256(content).hexdigest()
        assert Path(landing_path).read_bytes() == content
        assert Path(landing_path).is_relative_to(user.data_dir / "landing" / "visma")


def counters(served: Served) -> dict[str, int]:
    return served.admin("GET", "state")["counters"]


def test_a_live_sync_loads_every_file_then_nothing_for_one_authentication(serve, product) -> None:
    served = serve("visma", **SMALL)
    user = product(**live_env(served))
    first = user.sync("visma")
    assert first.returncode == 0, output(first)
    assert "0 failed" in first.stdout
    assert_truth(user, served)
    token = user.data_dir / "visma" / "token.json"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    downloaded = counters(served)["downloads"]

    second = user.sync("visma")
    assert second.returncode == 0, output(second)
    assert "Visma: 0 new file(s)" in second.stdout
    assert counters(served)["downloads"] == downloaded  # nothing downloaded again
    assert counters(served)["auth_calls"] == 1  # one token for both processes
    for result in (first, second):
        assert "sandbox-secret" not in result.stdout + result.stderr


def test_throttling_errors_and_expiring_tokens_mid_run_still_load_every_file(
    serve, product
) -> None:
    served = serve("visma", **SMALL)
    served.faults(
        token_lifetime_seconds=2,
        fail_next=[
            {"status": 429, "count": 3, "retry_after": 0.3},
            {"status": 503, "count": 3},
            {"status": 499, "count": 1},
        ],
    )
    user = product(**live_env(served))
    result = user.sync("visma")
    assert result.returncode == 0, output(result)
    assert served.admin("GET", "state")["faults"]["fail_next"] == []
    assert counters(served).get("throttled", 0) >= 3
    assert_truth(user, served)


def test_a_corrupt_file_fails_alone_and_heals_on_the_next_run(serve, product) -> None:
    served = serve("visma", **SMALL)
    user = product(**live_env(served))
    assert user.sync("visma").returncode == 0
    (delivered,) = served.admin("POST", "deliver", {"businessType": 134001, "count": 1})
    served.faults(corrupt_files={delivered["fileName"]: "garbage"})
    broken = user.sync("visma")
    assert broken.returncode == 1, output(broken)
    assert delivered["fileName"] in broken.stdout

    served.clear_faults()
    healed = user.sync("visma")
    assert healed.returncode == 0, output(healed)
    assert "1 loaded, 0 failed" in healed.stdout
    assert_truth(user, served)


def test_an_incomplete_visma_configuration_is_refused_by_name(product) -> None:
    user = product(VISMA_CLIENT_ID="sandbox-client", VISMA_CLIENT_SECRET="sandbox-secret")
    result = user.sync("visma")
    assert result.returncode == 2, output(result)
    assert "VISMA_TENANT_ID" in result.stderr
    assert not any(k.startswith("VISMA_") for k in os.environ)  # nothing leaked into the tests


def test_the_legacy_flow_without_a_tenant_id_works_for_a_single_tenant_app(serve, product) -> None:
    # The guide: x-raet-tenant-id is not mandatory for an app authorised for one tenant.
    served = serve("visma", **SMALL)
    user = product(
        VISMA_API_URL=f"{served.url}/mft/v1.0",
        VISMA_TOKEN_URL=f"{served.url}/authentication/token",
        VISMA_CLIENT_ID=VISMA_CREDENTIALS["VISMA_CLIENT_ID"],
        VISMA_CLIENT_SECRET=VISMA_CREDENTIALS["VISMA_CLIENT_SECRET"],
    )
    result = user.sync("visma")
    assert result.returncode == 0, output(result)
    assert_truth(user, served)

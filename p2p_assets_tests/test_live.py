"""The live-mode rule: a vendor is live once any of its connection variables is set, then complete
or refused by name; no variable at all means sandboxes; a vendor without variables while another
is live is not configured; URLs are https except on loopback."""

import pytest

from p2p_assets.live import (
    ConfigurationError,
    Mode,
    configuration_errors,
    mode_from_env,
    url_problem,
)

BASWARE_LIVE = {
    "BASWARE_API_URL": "https://api.basware.com",
    "BASWARE_CLIENT_ID": "client",
    "BASWARE_CLIENT_SECRET": "secret",
}


def test_no_vendor_variable_at_all_serves_every_sandbox() -> None:
    assert {key: mode_from_env(key, {}) for key in ("basware", "visma")} == {
        "basware": Mode.SANDBOX,
        "visma": Mode.SANDBOX,
    }
    assert configuration_errors(environ={}) == []


def test_a_complete_live_vendor_leaves_the_others_not_configured() -> None:
    assert mode_from_env("basware", BASWARE_LIVE) is Mode.LIVE
    assert mode_from_env("visma", BASWARE_LIVE) is Mode.OFF
    assert mode_from_env("boss_insights", BASWARE_LIVE) is Mode.OFF
    assert configuration_errors(environ=BASWARE_LIVE) == []


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"BASWARE_CLIENT_ID": "client"}, ["BASWARE_API_URL", "BASWARE_CLIENT_SECRET"]),
        ({"BASWARE_API_URL": "https://api.basware.com"}, ["BASWARE_CLIENT_ID"]),
        (
            {"BASWARE_API_URL": "https://api.basware.com", "BASWARE_USERNAME": "u"},
            ["BASWARE_PASSWORD"],
        ),
        ({"VISMA_CLIENT_ID": "c", "VISMA_CLIENT_SECRET": "s"}, ["VISMA_TENANT_ID"]),
        ({"WORKSPACE365_URL": "https://w365.example"}, ["WORKSPACE365_TOKEN"]),
        (
            {
                "BOSS_INSIGHTS_URL": "https://acme.myintranetapps.com/api",
                "BOSS_INSIGHTS_USERNAME": "u",
                "BOSS_INSIGHTS_PASSWORD": "p",
                "BOSS_INSIGHTS_ACCOUNT_KEY": "k",
            },
            ["BOSS_INSIGHTS_VENDOR_PATH", "BOSS_INSIGHTS_PAYABLE_INVOICE_PATH"],
        ),
    ],
)
def test_an_incomplete_live_vendor_is_refused_naming_what_is_missing(
    environ: dict[str, str], named: list[str]
) -> None:
    errors = configuration_errors(environ=environ)
    assert len(errors) == 1, errors
    for variable in named:
        assert variable in errors[0]
    key = next(k for k in ("basware", "visma", "workspace365", "boss_insights")
               if next(iter(environ)).startswith(k.upper()))  # fmt: skip
    with pytest.raises(ConfigurationError):
        mode_from_env(key, environ)


def test_the_legacy_visma_flow_needs_no_tenant() -> None:
    legacy = {
        "VISMA_TOKEN_URL": "https://api.raet.com/authentication/token",
        "VISMA_CLIENT_ID": "c",
        "VISMA_CLIENT_SECRET": "s",
    }
    assert mode_from_env("visma", legacy) is Mode.LIVE


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://api.basware.com", True),
        ("http://127.0.0.1:8765", True),
        ("http://127.9.9.9:1", True),
        ("http://[::1]:8765", True),
        ("http://localhost:8765", True),
        ("http://api.basware.com", False),
        ("http://10.0.0.5:8765", False),
        ("ftp://api.basware.com", False),
        ("https://user:pass@api.basware.com", False),
        ("api.basware.com", False),
    ],
)
def test_production_urls_are_https_and_http_only_on_loopback(url: str, accepted: bool) -> None:
    problem = url_problem("BASWARE_API_URL", url)
    assert (problem is None) is accepted, problem
    if problem:
        assert "BASWARE_API_URL" in problem
        assert "pass" not in problem  # a credential in the URL is never echoed


def test_an_http_url_off_loopback_refuses_the_vendor() -> None:
    environ = {**BASWARE_LIVE, "BASWARE_API_URL": "http://api.basware.com"}
    (error,) = configuration_errors(("basware",), environ)
    assert "https://" in error and "BASWARE_API_URL" in error

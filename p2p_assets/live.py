"""Live or sandbox: which vendors the environment points at a real API (no Dagster imports).

The rule, the same for every vendor and every path (sensors, assets, `p2p-assets sync`, the CLI):

- A vendor is **live** as soon as any of its connection variables is set. Then every variable it
  needs must be set, or everything that touches the vendor fails with a message naming the
  missing variable. Its URLs must be `https://`; `http://` is accepted only on loopback.
- With **no vendor variable set at all**, every vendor serves its sandbox.
- A vendor without variables while another vendor is live is **not configured**: nothing of it
  runs. No vendor falls back to its sandbox silently, so sandbox data never reaches a deployment
  that talks to a real API.
"""

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit


class Mode(StrEnum):
    SANDBOX = "sandbox"
    LIVE = "live"
    OFF = "not configured"


class ConfigurationError(ValueError):
    """The environment configures a vendor incompletely or unsafely; names the variables."""


class NotConfiguredError(ConfigurationError):
    """A vendor with no variables while another vendor is live (see the module docstring)."""


@dataclass(frozen=True)
class VendorSpec:
    """The environment variables of one vendor.

    `connection`: the variables whose presence makes the vendor live. `required`: what live mode
    then needs. `credentials`: alternatives of which exactly one group must be complete (Basware
    takes OAuth2 client credentials or Basic authentication). `urls`: variables holding URLs.
    `options`: settings that do not make the vendor live but are checked with it. `extra`:
    further rules over the values (returns problems to report).
    """

    key: str
    label: str
    connection: tuple[str, ...]
    required: tuple[str, ...] = ()
    credentials: tuple[tuple[str, ...], ...] = ()
    urls: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    extra: Callable[[Mapping[str, str]], list[str]] | None = field(default=None, compare=False)

    def mode(self, values: Mapping[str, str | None], *, others_live: bool | None = None) -> Mode:
        """The vendor's mode for these values ({variable: value or None}); raises
        `ConfigurationError` naming every missing or unsafe variable when live mode is incomplete.

        `others_live` says whether any vendor is configured in the environment (default: read
        `os.environ`); it decides between the sandbox and "not configured" when this vendor has
        no value at all.
        """
        given = {name: value for name, value in values.items() if value}
        if not any(given.get(name) for name in self.connection):
            if others_live is None:
                others_live = any_vendor_configured(os.environ)
            if others_live:
                raise NotConfiguredError(
                    f"{self.label} is not configured: another vendor is live, and {self.label} "
                    f"never falls back to its sandbox then. Set {self.describe_required()} to "
                    f"use it."
                )
            return Mode.SANDBOX
        problems = self.problems(given)
        if problems:
            raise ConfigurationError(
                f"{self.label} live mode ({', '.join(n for n in self.connection if n in given)} "
                f"set) is incomplete: " + "; ".join(problems)
            )
        return Mode.LIVE

    def problems(self, given: Mapping[str, str]) -> list[str]:
        problems = [f"{name} is not set" for name in self.required if not given.get(name)]
        if self.credentials:
            complete = [g for g in self.credentials if all(given.get(n) for n in g)]
            started = [g for g in self.credentials if any(given.get(n) for n in g)]
            for group in started:
                if group not in complete:
                    missing = [n for n in group if not given.get(n)]
                    present = [n for n in group if given.get(n)]
                    problems.append(f"{', '.join(present)} set but {', '.join(missing)} not set")
            if not started:
                problems.append(
                    "no credentials: set "
                    + " or ".join(" and ".join(group) for group in self.credentials)
                )
        for name in self.urls:
            if given.get(name):
                problem = url_problem(name, given[name])
                if problem:
                    problems.append(problem)
        if self.extra is not None:
            problems.extend(self.extra(given))
        return problems

    def describe_required(self) -> str:
        parts = list(self.required)
        if self.credentials:
            parts.append(" or ".join("/".join(group) for group in self.credentials))
        return ", ".join(parts) if parts else " or ".join(self.connection)


LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(name: str, url: str) -> str | None:
    """Why `url` (the value of variable `name`) is not acceptable, or None.

    Production traffic is TLS only (the Basware manual requires TLS 1.2 or later); plain HTTP is
    accepted for loopback addresses, where the sandboxes are served. Credentials never go in a
    URL, where logs and error messages would show them.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return f"{name} is not a URL"
    if parts.scheme not in ("https", "http") or not host:
        return f"{name} must be an https:// URL, not {url!r}"
    if parts.username or parts.password:
        return f"{name} must not carry credentials; use the vendor's credential variables"
    if parts.scheme == "http" and not is_loopback(host):
        return (
            f"{name} must be an https:// URL (TLS); http:// is accepted only for loopback "
            f"addresses (127.0.0.0/8, ::1, localhost), not {host}"
        )
    return None


def _visma_tenant(given: Mapping[str, str]) -> list[str]:
    """Visma Connect binds the tenant into the token, so it needs VISMA_TENANT_ID; the legacy
    flow does not (the header is optional for a single-tenant app)."""
    legacy = given.get("VISMA_TOKEN_URL", "").rstrip("/").endswith("/authentication/token")
    if legacy or given.get("VISMA_TENANT_ID"):
        return []
    return ["VISMA_TENANT_ID is not set (Visma Connect tokens are issued per tenant)"]


def _visma_plan(given: Mapping[str, str]) -> list[str]:
    """VISMA_PLAN names a plan; the weekly and daily plans call only inside VISMA_WINDOW."""
    from p2p_assets.lib.visma.plans import WindowError, parse_window, plan_named

    try:
        plan = plan_named(given.get("VISMA_PLAN") or "continuous")
    except ValueError as exc:
        return [str(exc)]
    window = given.get("VISMA_WINDOW")
    if not window:
        if plan.windowed:
            return [
                f"VISMA_WINDOW is not set: the {plan.name} plan allows calls only in a 2-hour "
                "window a day (e.g. VISMA_WINDOW='06:00-08:00 Europe/Amsterdam')"
            ]
        return []
    try:
        parse_window(window, plan)
    except WindowError as exc:
        return [str(exc)]
    return []


def _visma(given: Mapping[str, str]) -> list[str]:
    return _visma_tenant(given) + _visma_plan(given)


def _workspace365(given: Mapping[str, str]) -> list[str]:
    """WORKSPACE365_TIMEZONE names a zone; WORKSPACE365_CONCURRENCY is a number of calls."""
    from p2p_assets.lib.workspace365.errors import Workspace365ConfigError
    from p2p_assets.lib.workspace365.fields import timezone_from
    from p2p_assets.lib.writeback.sending import ConcurrencyError, concurrency_from

    problems = []
    try:
        timezone_from(given.get("WORKSPACE365_TIMEZONE"))
    except Workspace365ConfigError as exc:
        problems.append(str(exc))
    try:
        concurrency_from("WORKSPACE365_CONCURRENCY", given.get("WORKSPACE365_CONCURRENCY"))
    except ConcurrencyError as exc:
        problems.append(str(exc))
    return problems


BASWARE = VendorSpec(
    key="basware",
    label="Basware",
    connection=(
        "BASWARE_API_URL",
        "BASWARE_TOKEN_URL",
        "BASWARE_CLIENT_ID",
        "BASWARE_CLIENT_SECRET",
        "BASWARE_USERNAME",
        "BASWARE_PASSWORD",
    ),
    required=("BASWARE_API_URL",),
    credentials=(
        ("BASWARE_CLIENT_ID", "BASWARE_CLIENT_SECRET"),
        ("BASWARE_USERNAME", "BASWARE_PASSWORD"),
    ),
    urls=("BASWARE_API_URL", "BASWARE_TOKEN_URL"),
)
VISMA = VendorSpec(
    key="visma",
    label="Visma",
    connection=(
        "VISMA_API_URL",
        "VISMA_TOKEN_URL",
        "VISMA_CLIENT_ID",
        "VISMA_CLIENT_SECRET",
        "VISMA_TENANT_ID",
    ),
    required=("VISMA_CLIENT_ID", "VISMA_CLIENT_SECRET"),
    urls=("VISMA_API_URL", "VISMA_TOKEN_URL"),
    options=("VISMA_PLAN", "VISMA_WINDOW"),
    extra=_visma,
)
WORKSPACE365 = VendorSpec(
    key="workspace365",
    label="Workspace 365",
    connection=("WORKSPACE365_URL", "WORKSPACE365_ENVIRONMENT", "WORKSPACE365_TOKEN"),
    required=("WORKSPACE365_URL", "WORKSPACE365_ENVIRONMENT", "WORKSPACE365_TOKEN"),
    urls=("WORKSPACE365_URL",),
    options=("WORKSPACE365_TIMEZONE", "WORKSPACE365_CONCURRENCY"),
    extra=_workspace365,
)
BOSS_INSIGHTS = VendorSpec(
    key="boss_insights",
    label="Boss Insights",
    connection=(
        "BOSS_INSIGHTS_URL",
        "BOSS_INSIGHTS_USERNAME",
        "BOSS_INSIGHTS_PASSWORD",
        "BOSS_INSIGHTS_ACCOUNT_KEY",
    ),
    required=(
        "BOSS_INSIGHTS_URL",
        "BOSS_INSIGHTS_USERNAME",
        "BOSS_INSIGHTS_PASSWORD",
        "BOSS_INSIGHTS_ACCOUNT_KEY",
        # Boss Insights does not publish its write paths: there is no default to fall back to.
        "BOSS_INSIGHTS_VENDOR_PATH",
        "BOSS_INSIGHTS_PAYABLE_INVOICE_PATH",
    ),
    urls=("BOSS_INSIGHTS_URL",),
)
VENDORS: dict[str, VendorSpec] = {
    spec.key: spec for spec in (BASWARE, VISMA, WORKSPACE365, BOSS_INSIGHTS)
}


def any_vendor_configured(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name) for spec in VENDORS.values() for name in spec.connection)


def env_values(spec: VendorSpec, environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    environ = os.environ if environ is None else environ
    names = {
        *spec.connection, *spec.required, *spec.options, *(n for g in spec.credentials for n in g)
    }  # fmt: skip
    return {name: environ.get(name) or None for name in sorted(names)}


def mode_from_env(key: str, environ: Mapping[str, str] | None = None) -> Mode:
    """The vendor's mode as the environment sets it, `Mode.OFF` when another vendor is live;
    raises `ConfigurationError` for an incomplete or unsafe live configuration."""
    environ = os.environ if environ is None else environ
    spec = VENDORS[key]
    try:
        return spec.mode(env_values(spec, environ), others_live=any_vendor_configured(environ))
    except NotConfiguredError:
        return Mode.OFF


def configuration_errors(
    keys: tuple[str, ...] | None = None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Every configuration problem of the given vendors (default: all), one message each."""
    errors = []
    for key in keys or tuple(VENDORS):
        try:
            mode_from_env(key, environ)
        except ConfigurationError as exc:
            errors.append(str(exc))
    return errors

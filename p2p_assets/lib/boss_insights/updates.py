"""How a changed record reaches the CDM again: configuration, since Boss Insights does not
publish whether a second POST updates or creates a duplicate.

    (unset) or none    no update: a changed record is reported (`changed_since_sent`), never
                       posted again, so a CDM that creates on every POST gets no duplicate
    POST               POST to the write path again: the CDM upserts by `external_id`
    PUT {path}/{id}    an update addressed by the id the CDM returned when it created the
                       record (kept as the outbox's `remote_id`); PATCH likewise. A record whose
                       id is unknown (its answer was lost) is reported, not updated.
    PUT {path}         every write, the first included, is that call (the CDM upserts by body)

`{path}` is the object's write path, `{id}` the CDM's id (URL-quoted).
"""

import re
import string
from dataclasses import dataclass
from urllib.parse import quote

METHODS = ("POST", "PUT", "PATCH")
PLACEHOLDERS = {"path", "id"}


class UpdateConfigError(ValueError):
    pass


@dataclass(frozen=True)
class UpdateMethod:
    method: str | None = None  # None: records are never updated
    template: str = "{path}"

    @property
    def create_only(self) -> bool:
        return self.method is None

    @property
    def needs_remote_id(self) -> bool:
        return "{id}" in self.template

    def request(self, path: str, remote_id: str | None) -> tuple[str, str]:
        """The method and path of the call that writes a record (`remote_id`: the CDM's id for
        it, None when it has not created it yet)."""
        if self.method is None or (self.needs_remote_id and remote_id is None):
            return "POST", path
        return self.method, self.template.format(path=path, id=quote(remote_id or "", safe=""))

    def describe(self) -> str:
        return "none" if self.method is None else f"{self.method} {self.template}"


def parse_update(setting: str | None, variable: str = "BOSS_INSIGHTS_UPDATE") -> UpdateMethod:
    text = (setting or "").strip()
    if not text or text.lower() == "none":
        return UpdateMethod()
    method, _, template = text.partition(" ")
    method, template = method.upper(), re.sub(r"\s+", "", template) or "{path}"
    if method not in METHODS:
        raise UpdateConfigError(
            f"{variable}={setting!r}: the method must be one of {', '.join(METHODS)} (or none), "
            "e.g. 'PUT {path}/{id}'"
        )
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise UpdateConfigError(f"{variable}={setting!r}: {exc}") from None
    if names - PLACEHOLDERS or "{path}" not in template:
        raise UpdateConfigError(
            f"{variable}={setting!r}: the path template must start from {{path}} and may use "
            "{id} (the CDM's id), nothing else, e.g. 'PUT {path}/{id}'"
        )
    if method == "POST" and "{id}" not in template and template != "{path}":
        raise UpdateConfigError(f"{variable}={setting!r}: POST upserts at {{path}} itself")
    return UpdateMethod(method, template)

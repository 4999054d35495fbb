"""The CDM field mapping of a Boss Insights object: a TOML file naming the columns of the view
it sends (the query), which a user changes without editing code (Boss Insights does not publish
its CDM field names).

    # queries/vendors.fields.toml: CDM field = where its value comes from
    [external_id]
    column = "external_id"   # the view's column
    type = "text"            # text, integer, minor_units, currency, date, boolean
    required = true          # a record without a value is refused before sending

    [total]
    column = "total"
    type = "minor_units"     # an amount, sent as an integer in the currency's minor unit
    currency_column = "currency"

Every mistake names the file and the field: an unknown type or key, a missing column, and (once
the query has run) a column the query does not return.
"""

import tomllib
from collections.abc import Iterable
from pathlib import Path

from p2p_assets.lib.boss_insights.records import CdmField, Kind

KEYS = {"column", "type", "required", "currency_column"}


class MappingError(ValueError):
    pass


def load_fields(path: Path) -> tuple[CdmField, ...]:
    """The CDM fields `path` maps, in the file's order."""
    where = _name(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"{where}: no such mapping file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"{where}: not valid TOML ({exc})") from None
    if not data:
        raise MappingError(f"{where}: maps no CDM field")
    fields = []
    for name, spec in data.items():
        if not isinstance(spec, dict):
            raise MappingError(f"{where}: [{name}] must be a table with column and type")
        unknown = sorted(set(spec) - KEYS)
        if unknown:
            raise MappingError(
                f"{where}: [{name}] has unknown key(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(KEYS))})"
            )
        column, kind = spec.get("column"), spec.get("type")
        if not isinstance(column, str) or not column:
            raise MappingError(f'{where}: [{name}] needs column = "<the query\'s column>"')
        if kind not in {k.value for k in Kind}:
            raise MappingError(
                f"{where}: [{name}] type {kind!r} is not one of {', '.join(k.value for k in Kind)}"
            )
        required = spec.get("required", False)
        if not isinstance(required, bool):
            raise MappingError(f"{where}: [{name}] required must be true or false")
        currency = spec.get("currency_column")
        if (kind == Kind.MINOR_UNITS) != (currency is not None) or (
            currency is not None and (not isinstance(currency, str) or not currency)
        ):
            raise MappingError(
                f"{where}: [{name}] a minor_units amount (and only one) names its currency_column"
            )
        fields.append(CdmField(name, Kind(kind), column, required, currency))
    return tuple(fields)


def check_columns(
    fields: Iterable[CdmField], columns: Iterable[str], mapping: Path, query: Path
) -> None:
    """Refuse a mapping that reads a column `query` does not return."""
    returned = set(columns)
    for field in fields:
        for column in (field.column, field.currency_column):
            if column is not None and column not in returned:
                raise MappingError(
                    f"{_name(mapping)}: [{field.name}] reads column {column!r}, which "
                    f"{_name(query)} does not return (it returns {', '.join(sorted(returned))})"
                )


def _name(path: Path) -> str:
    """The path as a user finds it: from the package folder when it is inside it."""
    parts = path.parts
    return "/".join(parts[parts.index("p2p_assets") :]) if "p2p_assets" in parts else str(path)

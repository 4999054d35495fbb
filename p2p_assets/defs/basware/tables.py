"""Which Basware tables have an asset: the documented ones, and any table Basware added that its
table definition or an extract has shown us, remembered in `{P2P_DATA_DIR}/basware/tables.json`
so that a new table becomes an asset when the definitions load next (no warehouse read at load
time: the file may be busy)."""

import json
from pathlib import Path

from p2p_assets import settings
from p2p_assets.lib.basware.loader import table_order
from p2p_assets.lib.basware.models import table_name_problem
from p2p_assets.lib.basware.tables import ALL_TABLES
from p2p_assets.lib.locks import write_private_atomically


def _tables_file() -> Path:
    return settings.data_dir() / "basware" / "tables.json"


def known_tables() -> tuple[str, ...]:
    """The tables with an asset: the documented ones, and any table Basware added that its table
    definition or an extract has shown us (kept in `{P2P_DATA_DIR}/basware/tables.json`), so a
    new table becomes an asset when the definitions load next."""
    try:
        seen = json.loads(_tables_file().read_text())
    except (OSError, ValueError):
        seen = []
    extra = {t for t in seen if isinstance(t, str) and not table_name_problem(t)}
    return tuple(sorted(set(ALL_TABLES) | extra, key=table_order))


def remember_tables(tables: set[str]) -> None:
    new = {t for t in tables if not table_name_problem(t)} - set(known_tables())
    if new:
        extra = sorted((set(known_tables()) - set(ALL_TABLES)) | new, key=table_order)
        write_private_atomically(_tables_file(), json.dumps(extra).encode())

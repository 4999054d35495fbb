"""A ZIP from Basware unpacked under names we choose: `members/<zip name>/<n><suffix>`.

The manual speaks of "multiple ZIP files for different data sets": each member is a data set file
of its own, named by its path inside the archive (two members with the same base name in
different folders stay two files) and of the table its own name says, else of the file's table.
A member's path is data: it names the file, it never decides where the bytes go.
"""

import shutil
import zipfile
import zlib
from pathlib import Path
from typing import Any

from p2p_assets.lib.basware.models import LANDING_NAMES, table_from_file_name, table_name_problem

MEMBERS = LANDING_NAMES[1]
_READABLE_SUFFIXES = (".json", ".ndjson", ".csv")


def unpack(
    archive: Path, directory: Path, known_tables: set[str], table_name: str
) -> dict[str, Any]:
    """Unpack a ZIP's members under names we choose: `members/<zip name>/<n><suffix>`.

    Each member is its own data set file, named by its path inside the archive (two members with
    the same base name in different folders stay two files), of the table its own name says (a
    data set ZIP holds several tables), else of the file's table. A broken archive is recorded,
    for the loader to report as corrupt.
    """
    target = directory / MEMBERS / archive.name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    members = []
    try:
        with zipfile.ZipFile(archive) as zipped:
            infos = [info for info in zipped.infolist() if not info.is_dir()]
            needed = sum(info.file_size for info in infos)
            free = shutil.disk_usage(target).free
            if needed > free:
                raise OSError(
                    f"unpacking {archive.name} needs {needed} bytes, {free} are free in {target}"
                )
            for number, info in enumerate(infos, start=1):
                base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
                member_table = table_from_file_name(base)
                if member_table not in known_tables or table_name_problem(member_table):
                    member_table = table_name
                path = target / f"{number:04d}{_suffix(base)}"
                with zipped.open(info) as source, path.open("wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
                members.append(
                    {
                        "path": str(path.relative_to(directory)),
                        "name": f"{archive.name}/{info.filename}",
                        "table": member_table,
                    }
                )
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        return {"readable": [], "unpack_error": f"corrupt ZIP archive: {exc}"}
    return {"readable": members}


def _suffix(member_name: str) -> str:
    """The member's format as a suffix the loader knows (`.json`, `.csv.gz`, ...), or `.unknown`."""
    name = member_name.lower()
    gz = ".gz" if name.endswith(".gz") else ""
    stem = name.removesuffix(".gz")
    for suffix in _READABLE_SUFFIXES:
        if stem.endswith(suffix):
            return suffix + gz
    return ".unknown"


def member_entry(value: Any) -> dict[str, Any]:
    """A manifest's readable entry; manifests written before ZIP members were named held paths."""
    return value if isinstance(value, dict) else {"path": str(value)}

"""Landing vendor files on disk, whatever the vendor: names that cannot escape the landing
directory, and the `.partial` file a download grows in before its atomic rename."""

from pathlib import Path

PARTIAL_SUFFIX = ".partial"


def is_plain_file_name(file_name: str) -> bool:
    """False for anything that could escape the landing directory (separators, `..`, NUL)."""
    return (
        bool(file_name)
        and file_name not in (".", "..")
        and not any(bad in file_name for bad in ("/", "\\", "\x00"))
    )


def partial_path(final_path: Path) -> Path:
    return final_path.with_name(final_path.name + PARTIAL_SUFFIX)

"""Which Visma files are new, per subscribed business type, and which of them to load.

Every subscribed type is listed in one query (`businessType eq A or businessType eq B ...`, all
pages, oldest first): a poll costs one call, not one per type, which the windowed plans' 1000
calls a window and the continuous plan's 6000 a day are better spent on. Visma answers 403 to a
filter naming a type the app is not subscribed to; then each type is listed on its own, so the
403 names that type and the others still load.
"""

from dataclasses import dataclass, field

from p2p_assets.lib.files import name_problem
from p2p_assets.lib.visma.business_types import business_type
from p2p_assets.lib.visma.client import VismaClient
from p2p_assets.lib.visma.download import LANDING_NAMES, VISMA_NAME
from p2p_assets.lib.visma.errors import VismaAPIError, VismaError
from p2p_assets.lib.visma.landing import upload_order, with_business_type
from p2p_assets.lib.visma.models import VismaFile


@dataclass
class Listing:
    files: dict[int, list[VismaFile]] = field(default_factory=dict)  # available, oldest first
    errors: dict[int, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # files whose id or name is not plain

    def to_load(self, type_id: int, known: list[VismaFile]) -> list[VismaFile]:
        """The files to materialise: all of them, oldest first, except for full-snapshot types,
        where only the newest matters (each file holds the complete list): the newest listed,
        and only if no newer one (`known`: every file catalogued so far) was seen before."""
        files = self.files.get(type_id, [])
        if business_type(type_id).kind != "snapshot" or not files:
            return files
        newest = files[-1]
        if any(upload_order(k) > upload_order(newest) for k in known):
            return []
        return [newest]


def list_available(client: VismaClient, type_ids: tuple[int, ...]) -> Listing:
    listing = Listing()
    together = " or ".join(f"businessType eq {type_id}" for type_id in type_ids)
    try:
        files = client.list_files(filter=together, order_by="uploadDate asc")
    except VismaAPIError as exc:
        if exc.status != 403 or len(type_ids) == 1:
            listing.errors.update({type_id: str(exc) for type_id in type_ids})
            return listing
        for type_id in type_ids:  # one of them is not ours: find which
            _add(listing, client, type_id)
        return listing
    except VismaError as exc:
        listing.errors.update({type_id: str(exc) for type_id in type_ids})
        return listing
    if len(type_ids) == 1:
        _sort_in(listing, type_ids[0], files)
        return listing
    unknown = [f for f in files if f.business_type_id not in type_ids]
    if unknown:
        message = (
            f"Visma listed {len(unknown)} file(s) of another or no business type for "
            f"{together}, e.g. {unknown[0].file_name}"
        )
        listing.errors.update({type_id: message for type_id in type_ids})
        return listing
    for type_id in type_ids:
        _sort_in(listing, type_id, [f for f in files if f.business_type_id == type_id])
    return listing


def _add(listing: Listing, client: VismaClient, type_id: int) -> None:
    try:
        files = client.list_files(filter=f"businessType eq {type_id}", order_by="uploadDate asc")
    except VismaError as exc:
        listing.errors[type_id] = str(exc)
        return
    _sort_in(listing, type_id, files)


def _sort_in(listing: Listing, type_id: int, files: list[VismaFile]) -> None:
    """The files listed for `type_id`: refused ones noted, the rest oldest first."""
    stray = [f for f in files if f.business_type_id not in (None, type_id)]
    if stray:
        listing.errors[type_id] = (
            f"Visma listed {len(stray)} file(s) of another business type for "
            f"businessType eq {type_id}, e.g. {stray[0].file_name}"
        )
        return
    usable = []
    for file in files:
        problem = _refusal(file)
        if problem:
            listing.refused.append(
                f"Visma business type {type_id}: file {file.file_name!r} ({file.file_id!r}) "
                f"is refused: {problem}"
            )
        else:
            usable.append(with_business_type(file, type_id))
    listing.files[type_id] = sorted(usable, key=upload_order)


def _refusal(file: VismaFile) -> str | None:
    """Ids and names from Visma become directory and file names: plain names only (one bad file
    never stops the others of its type)."""
    problem = name_problem(file.file_id)
    if problem:
        return f"its id {problem}"
    problem = name_problem(file.file_name, pattern=VISMA_NAME, reserved=LANDING_NAMES)
    return f"its name {problem}" if problem else None

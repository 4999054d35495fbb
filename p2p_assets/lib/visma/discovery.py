"""Which Visma files are new, per subscribed business type, and which of them to load.

Each business type is listed on its own (all pages, oldest first) so that a 403 for a type this
app is not subscribed to names that type and leaves the others to load.
"""

from dataclasses import dataclass, field

from p2p_assets.lib.files import name_problem
from p2p_assets.lib.visma.business_types import business_type
from p2p_assets.lib.visma.client import VismaClient
from p2p_assets.lib.visma.download import LANDING_NAMES, VISMA_NAME
from p2p_assets.lib.visma.errors import VismaError
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
    for type_id in type_ids:
        try:
            files = client.list_files(
                filter=f"businessType eq {type_id}", order_by="uploadDate asc"
            )
        except VismaError as exc:
            listing.errors[type_id] = str(exc)
            continue
        stray = [f for f in files if f.business_type_id not in (None, type_id)]
        if stray:
            listing.errors[type_id] = (
                f"Visma listed {len(stray)} file(s) of another business type for "
                f"businessType eq {type_id}, e.g. {stray[0].file_name}"
            )
            continue
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
    return listing


def _refusal(file: VismaFile) -> str | None:
    """Ids and names from Visma become directory and file names: plain names only (one bad file
    never stops the others of its type)."""
    problem = name_problem(file.file_id)
    if problem:
        return f"its id {problem}"
    problem = name_problem(file.file_name, pattern=VISMA_NAME, reserved=LANDING_NAMES)
    return f"its name {problem}" if problem else None

"""What a person does by hand, and only a person: `p2p-assets basware redownload` (spend the last
download of a file), `p2p-assets visma skip` (load later files without one whose content is gone),
`p2p-assets warehouse sources|adopt` (where the warehouse's data came from) and `p2p-assets outbox
list|requeue` (the write-back records waiting for a person, and sending them again).
"""

import getpass
import sys

from p2p_assets import settings


def redownload_basware(extract_id: str, file_names: list[str], *, verbose: bool = False) -> int:
    """Allow the last download of these files of a landed extract, then run the extract again."""
    import dagster as dg

    from p2p_assets.cli import prepare_dagster_home
    from p2p_assets.definitions import defs
    from p2p_assets.defs.operations.watchdog import execute_in_process
    from p2p_assets.headless import SYNC_TAG, failure_message
    from p2p_assets.lib.basware.landing import allow_last_download
    from p2p_assets.lib.basware.models import extract_id_problem

    problem = extract_id_problem(extract_id)
    if problem:
        print(f"p2p-assets: Basware extract {extract_id!r} is refused: {problem}", file=sys.stderr)
        return 2
    directory = settings.landing_dir("basware") / extract_id
    if not (directory / "manifest.json").exists():
        print(f"p2p-assets: Basware extract {extract_id} was never landed here", file=sys.stderr)
        return 2
    allowed = allow_last_download(directory, file_names)
    unknown = sorted(set(file_names) - set(allowed))
    if unknown:
        print(f"p2p-assets: extract {extract_id} has no file {', '.join(unknown)}", file=sys.stderr)
        return 2
    print(f"Allowed one more download of {', '.join(allowed)}; loading extract {extract_id}")
    prepare_dagster_home()
    with dg.DagsterInstance.get() as instance:
        result = execute_in_process(
            defs.resolve_job_def("basware_extract_job"),
            instance=instance,
            partition_key=extract_id,
            raise_on_error=False,
            run_config={
                "loggers": {"console": {"config": {"log_level": "INFO" if verbose else "WARNING"}}}
            },
            tags=dict([SYNC_TAG]),
        )
    if not result.success:
        print(f"FAILED Basware extract {extract_id}: {failure_message(result)}")
        return 1
    print(f"Basware extract {extract_id} loaded and acknowledged")
    return 0


def skip_visma_file(file_id: str, reason: str) -> int:
    """Mark a catalogued Visma file as skipped: later files of its type (mutations apply oldest
    first) load without it, and it is never asked for again. Refused for a loaded file."""
    from p2p_assets.lib.files import name_problem
    from p2p_assets.lib.visma.landing import CATALOG, LANDED, read_catalogue, skip

    problem = name_problem(file_id)
    if problem:
        print(f"p2p-assets: Visma file id {file_id!r} is refused: {problem}", file=sys.stderr)
        return 2
    root = settings.landing_dir("visma")
    types = sorted(
        int(p.parent.parent.name) for p in root.glob(f"*/{file_id}/{CATALOG}")
        if p.parent.parent.name.isdigit()
    )  # fmt: skip
    if not types:
        print(f"p2p-assets: Visma file {file_id} was never listed here ({root})", file=sys.stderr)
        return 2
    type_id = types[0]
    file = read_catalogue(root, type_id, file_id)
    if (root / str(type_id) / file_id / LANDED).exists():
        print(
            f"p2p-assets: Visma file {file.file_name} ({file_id}) is landed; there is nothing to "
            "skip (re-materialise its partition to load it)",
            file=sys.stderr,
        )
        return 2
    recorded = skip(root, type_id, file_id, by=getpass.getuser(), reason=reason)
    print(
        f"Skipped Visma file {file.file_name} ({file_id}, business type {type_id}); recorded in "
        f"{recorded}. Later files of the type load without it: run `p2p-assets sync visma`, or "
        "re-execute their failed runs in the UI."
    )
    return 0


def list_sources() -> int:
    from p2p_assets.lib.warehouse import snapshots, sources
    from p2p_assets.lib.warehouse.connection import connect

    path = snapshots.ensure_working(snapshots.layout())
    if not path.exists():
        print(f"{path}: no warehouse yet")
        return 0
    with connect(path, read_only=True) as con:
        recorded = sources.recorded(con)
    print(f"{settings.warehouse_path()}:")
    for vendor in sources.LABELS:
        source = recorded.get(vendor)
        print(f"  {vendor:<14} {source.describe() if source else 'nothing recorded'}")
    return 0


def adopt(vendor: str) -> int:
    """Record the configured source of `vendor` as where the warehouse's existing data came from
    (a warehouse written before sources were recorded)."""
    from p2p_assets.defs.resources import configured
    from p2p_assets.lib.warehouse import snapshots, sources
    from p2p_assets.lib.warehouse.connection import connect, transaction
    from p2p_assets.live import ConfigurationError

    try:
        source = configured(vendor).source()
    except ConfigurationError as exc:
        print(f"p2p-assets: {exc}", file=sys.stderr)
        return 2
    where = snapshots.layout()
    with connect(snapshots.ensure_working(where)) as con, transaction(con):
        previous = sources.recorded(con).get(vendor)
        sources.record(con, source)
    try:
        snapshots.publish(where)
    except snapshots.PublishError as exc:
        print(f"p2p-assets: recorded, but {exc}", file=sys.stderr)
        return 1
    was = f" (was {previous.describe()})" if previous else ""
    print(f"{where.published}: {vendor} data is recorded as from {source.describe()}{was}")
    return 0


def list_outbox(target: str, statuses: list[str] | None) -> int:
    """`p2p-assets outbox list`: the records of a write-back target in the given statuses (by
    default those waiting for a person), with their reasons, as a table."""
    from p2p_assets.lib.warehouse import snapshots
    from p2p_assets.lib.warehouse.connection import connect
    from p2p_assets.lib.writeback import review
    from p2p_assets.lib.writeback.outbox import STATUSES

    wanted = tuple(statuses) if statuses else review.attention()
    unknown = [status for status in wanted if status not in STATUSES]
    if unknown:
        print(f"p2p-assets: no outbox status {', '.join(unknown)}; the statuses are "
              f"{', '.join(STATUSES)}", file=sys.stderr)  # fmt: skip
        return 2
    path = snapshots.ensure_working(snapshots.layout())
    if not path.exists():
        print(f"p2p-assets: no warehouse yet at {settings.warehouse_path()}", file=sys.stderr)
        return 2
    with connect(path, read_only=True) as con:
        if _unknown_target(review.targets(con), target):
            return 2
        found = review.rows(con, target, wanted)
        counts = review.counts(con, target)
    shown = " or ".join(wanted)
    everything = ", ".join(f"{status} {n}" for status, n in counts.items())
    if not found:
        print(f"No record of {target} is {shown} (outbox: {everything})")
        return 0
    print(review.render(found), end="")
    print(f"{len(found)} record(s) of {target} {shown} (outbox: {everything})")
    return 0


def requeue_outbox(target: str, status: str, keys: list[str] | None) -> int:
    """`p2p-assets outbox requeue`: records a person has dealt with go back to `pending`, so the
    next run sends them; written to the working warehouse, then published."""
    from p2p_assets.lib.warehouse import snapshots
    from p2p_assets.lib.warehouse.connection import connect
    from p2p_assets.lib.writeback import review

    if status not in review.REQUEUEABLE:
        print(
            f"p2p-assets: {status} records cannot be re-queued; only "
            f"{', '.join(review.REQUEUEABLE)} ones can (pending ones are sent by the next run; "
            "sent and confirmed ones are upstream already)",
            file=sys.stderr,
        )
        return 2
    where = snapshots.layout()
    path = snapshots.ensure_working(where)
    if not path.exists():
        print(f"p2p-assets: no warehouse yet at {settings.warehouse_path()}", file=sys.stderr)
        return 2
    with connect(path) as con:
        if _unknown_target(review.targets(con), target):
            return 2
        done = review.requeue(con, target, status, keys, by=getpass.getuser())
    missed = sorted(set(keys or ()) - set(done))
    for key in missed:
        print(f"p2p-assets: {target} has no {status} record {key}; left as it is", file=sys.stderr)
    if not done:
        print(f"Re-queued 0 records: {target} has no {status} record" + (
            " among those keys" if keys else ""))  # fmt: skip
        return 1 if missed else 0
    try:
        snapshots.publish(where)
    except snapshots.PublishError as exc:
        print(f"p2p-assets: re-queued, but {exc}", file=sys.stderr)
        return 1
    warning = (
        "; make sure Workspace 365 or Boss Insights does not hold them already, the next run "
        "creates them again" if status == "uncertain" else ""
    )  # fmt: skip
    print(
        f"Re-queued {len(done)} {status} record(s) of {target}: pending again, attempts kept, "
        f"with a note{warning}. The next `p2p-assets sync writeback` (or a materialisation of "
        "the asset) sends them."
    )
    return 1 if missed else 0


def _unknown_target(known: list[str], target: str) -> bool:
    if target in known:
        return False
    listed = "\n".join(f"  {name}" for name in known) or "  (none: nothing was planned yet)"
    print(f"p2p-assets: no write-back target {target!r}; the outbox knows:\n{listed}",
          file=sys.stderr)  # fmt: skip
    return True

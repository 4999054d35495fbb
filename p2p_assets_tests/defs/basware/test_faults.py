"""The pipeline against a misbehaving Basware: expiring tokens, throttling, schema drift, corrupt
files and a spent download limit."""

import shutil

import pytest

from p2p_assets import settings
from p2p_assets.sandbox.basware import BaswareFaults, FailRule
from p2p_assets_tests.defs.basware.helpers import assert_matches_truth, failure_text


def _files_path(extract_id: str) -> str:
    """Where the sandbox serves an extract's file bodies (the target of getFile's redirect)."""
    return f"/v1/dataExtracts/{extract_id}/files/"


def test_token_expiring_mid_run(serve_tenant):
    tenant = serve_tenant(initial_deltas=0)
    extract_id = tenant.extract_ids()[0]
    # One-second tokens, and waits longer than that in the middle of the downloads and before
    # the acknowledgement: requests go out with a token that has expired in the meantime.
    tenant.sandbox.set_faults(
        token_lifetime_seconds=1,
        fail_next=[
            FailRule(status=429, count=1, retry_after=1.5, path_prefix=_files_path(extract_id)),
            FailRule(
                status=503,
                count=1,
                retry_after=1.5,
                path_prefix=f"/v1/dataExtracts/{extract_id}/acknowledge",
            ),
        ],
    )
    result = tenant.run(extract_id)
    assert result.success, failure_text(result)
    assert tenant.sandbox.faults().fail_next == ()  # both waits happened
    assert tenant.statuses() == {extract_id: "Exported"}
    assert_matches_truth(tenant)


def test_throttling_and_unavailability_storm(serve_tenant):
    tenant = serve_tenant(initial_deltas=0)
    extract_id = tenant.extract_ids()[0]
    prefix = f"/v1/dataExtracts/{extract_id}"
    # Rules are consumed one request at a time, first matching rule first; no request meets more
    # than four failures in a row (the client makes five attempts).
    tenant.sandbox.set_faults(
        fail_next=[
            FailRule(status=429, count=2, retry_after=0.2),  # the first token request
            FailRule(status=503, count=2, retry_after=0.1, path_prefix=f"{prefix}/getFile"),
            FailRule(status=429, count=3, retry_after=0.1, path_prefix=f"{prefix}/files/"),
            FailRule(status=503, count=1, path_prefix=f"{prefix}/files/"),
            FailRule(status=503, count=2, retry_after=0.1, path_prefix=f"{prefix}/acknowledge"),
            FailRule(status=429, count=2, retry_after=0.1, path_prefix="/v1/tokens"),
            FailRule(status=503, count=2, retry_after=0.1, path_prefix="/v1/dataExtracts"),
        ]
    )
    result = tenant.run(extract_id)
    assert result.success, failure_text(result)
    assert tenant.sandbox.faults().fail_next == ()
    # Throttled requests are answered before a download is counted: each file cost one download.
    assert set(tenant.sandbox.download_counts().values()) == {1}
    assert tenant.statuses() == {extract_id: "Exported"}
    assert_matches_truth(tenant)


def test_schema_drift_from_a_later_extract(serve_tenant):
    tenant = serve_tenant(initial_deltas=2)
    ids = tenant.extract_ids()
    initial = tenant.run(ids[0])
    assert initial.success, failure_text(initial)
    tenant.sandbox.set_faults(
        BaswareFaults(
            add_columns={"IA_INVOICE": ["TEXT9", "EXTRA_SUM"]},
            drop_columns={"IA_INVOICE": ["TEXT2"]},
            drift_from_extract=1,
        )
    )
    for extract_id in ids[1:]:
        result = tenant.run(extract_id)
        assert result.success, failure_text(result)

    for schema in ("basware", "basware_history"):
        columns = {
            name
            for (name,) in tenant.query(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = 'ia_invoice'",
                [schema],
            )
        }
        assert {"TEXT9", "EXTRA_SUM", "TEXT2"} <= columns, schema
    per_extract = dict(
        (extract_id, (rows, text2, text9))
        for extract_id, rows, text2, text9 in tenant.query(
            "SELECT _extract_id, count(*), count(TEXT2), count(TEXT9) "
            "FROM basware_history.ia_invoice GROUP BY ALL"
        )
    )
    rows, text2, text9 = per_extract[ids[0]]
    assert text2 > 0 and text9 == 0
    for extract_id in ids[1:]:
        rows, text2, text9 = per_extract[extract_id]
        assert rows > 0 and text2 == 0 and text9 > 0, extract_id
    current = tenant.query(
        "SELECT _extract_id = ?, count(*), count(TEXT2), count(TEXT9) "
        "FROM basware.ia_invoice GROUP BY ALL ORDER BY 1",
        [ids[0]],
    )
    assert [(rows > 0, text2 == 0, text9 > 0) for _, rows, text2, text9 in current] == [
        (True, True, True),  # rows last delivered after the drift
        (True, False, False),  # rows last delivered by the Initial
    ]
    assert_matches_truth(tenant)


@pytest.mark.parametrize("corruption", ["truncated", "garbage", "wrong_count"])
def test_corrupt_file_is_rejected_then_loaded_once_fixed(serve_tenant, corruption: str):
    # Only a tenant that announces record counts (not the real API's default) can show a file
    # holding fewer records than announced.
    tenant = serve_tenant(initial_deltas=2, record_counts=corruption == "wrong_count")
    initial, broken, later = tenant.extract_ids()
    entry = next(f for f in tenant.sandbox.files(1) if f["tableName"] == "IA_INVOICE")
    file_name, records = entry["fileName"], entry["recordCount"]
    reason = {
        "truncated": "IO Error: Unexpected end of GZIP stream",
        "garbage": "Invalid Input Error: Malformed JSON",
        "wrong_count": f"announced {records} records, the file holds {records - 1}",
    }[corruption]
    # Every extract names its files alike (IA_INVOICE_0001.json.gz), so the extracts around the
    # broken one are landed before the fault is set.
    for extract_id in (initial, later):
        result = tenant.run(extract_id)
        assert result.success, failure_text(result)
    tenant.sandbox.set_faults(corrupt_files={file_name: corruption})
    failed = tenant.run(broken)
    assert not failed.success
    message = failure_text(failed)
    assert f"Basware extract {broken}, file {file_name}: {reason}" in message

    for schema in ("basware", "basware_history"):
        for table in tenant.warehouse_tables(schema) - {"extracts", "extract_tables"}:
            leaked = tenant.query(
                f'SELECT count(*) FROM {schema}."{table}" WHERE _extract_id = ?', [broken]
            )
            assert leaked == [(0,)], f"{schema}.{table}"
    loaded = tenant.query("SELECT extract_id FROM basware.extracts ORDER BY extract_date")
    assert loaded == [(initial,), (later,)]
    assert tenant.statuses() == {initial: "Exported", broken: "WaitingForExport", later: "Exported"}

    tenant.sandbox.clear_faults()
    fixed = tenant.run(broken)
    assert fixed.success, failure_text(fixed)
    counts = tenant.sandbox.download_counts()
    assert counts[(broken, file_name)] == 2  # the rejected file was fetched again, only it
    assert {n for (e, f), n in counts.items() if e == broken and f != file_name} == {1}
    landing = settings.landing_dir("basware") / broken
    kept = list((landing / "rejected").glob(f"{file_name}.*"))
    assert len(kept) == 1 and kept[0].read_bytes() != (landing / file_name).read_bytes()
    assert tenant.statuses() == dict.fromkeys((initial, broken, later), "Exported")
    assert_matches_truth(tenant)


def test_download_limit_is_respected(serve_tenant):
    tenant = serve_tenant(initial_deltas=0, download_limit=1)
    extract_id = tenant.extract_ids()[0]
    assert tenant.run(extract_id).success
    spent = tenant.sandbox.download_counts()
    assert set(spent.values()) == {1}

    again = tenant.run(extract_id)  # everything is on disk already
    assert again.success, failure_text(again)
    assert tenant.sandbox.download_counts() == spent

    shutil.rmtree(settings.landing_dir("basware"))
    refused = tenant.run(extract_id)
    assert not refused.success
    message = failure_text(refused)
    assert "BaswareDownloadLimitError" in message
    assert "answered HTTP 403" in message
    assert "download limit is probably spent" in message
    assert tenant.sandbox.download_counts() == spent
    assert_matches_truth(tenant)


@pytest.mark.parametrize("compression", ["none", "gz"])
def test_a_landed_copy_changed_on_disk_commits_nothing_and_is_downloaded_again(
    serve_tenant, compression
):
    """The sha256 check runs beside the load: whether the changed copy still parses (plain JSON
    with a byte added) or not (a gzip stream with bytes added), nothing of the extract commits,
    the failure says the copy no longer matches, and the next run downloads it again."""
    import dagster as dg

    from p2p_assets.defs.basware.assets import basware_extract_files, basware_tables

    tenant = serve_tenant(initial_deltas=1, compression=compression)
    initial, delta = tenant.extract_ids()
    assert tenant.run(initial).success
    tenant.instance.add_dynamic_partitions("basware_extract", [delta])
    landed = dg.materialize(
        [basware_extract_files],
        instance=tenant.instance,
        partition_key=delta,
        resources=tenant.resources,
        raise_on_error=False,
    )
    assert landed.success, failure_text(landed)
    directory = settings.landing_dir("basware") / delta
    changed = sorted(p for p in directory.iterdir() if p.name.startswith("IA_INVOICE_0"))[0]
    with changed.open("ab") as handle:
        handle.write(b"\n")
    before = tenant.snapshot()

    result = dg.materialize(
        [basware_tables],
        instance=tenant.instance,
        partition_key=delta,
        resources=tenant.resources,
        raise_on_error=False,
    )
    assert not result.success
    text = failure_text(result)
    assert changed.name in text and "no longer matches the sha256" in text, text
    assert "moved aside" in text
    assert tenant.snapshot() == before  # nothing of the delta committed
    assert not changed.exists()

    again = tenant.run(delta)
    assert again.success, failure_text(again)
    assert_matches_truth(tenant)

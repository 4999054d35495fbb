"""Publishing a warehouse export to Visma: once per content, and the file round-trips."""

import duckdb

from p2p_assets import settings
from p2p_assets.definitions import defs
from p2p_assets.defs.visma.resources import visma_resource_from_env
from p2p_assets.lib.warehouse import snapshots

PUBLISHED = "visma/published_cost_allocation"


def _basware_tables() -> None:
    """The two Basware tables the export reads, as the Basware loader leaves them."""
    with duckdb.connect(str(snapshots.ensure_working(snapshots.layout()))) as con:
        con.execute("CREATE SCHEMA basware")
        con.execute(
            "CREATE TABLE basware.ia_invoice AS SELECT * FROM (VALUES "
            "('I1', 'NL01', 'EUR', DATE '2026-10-03', 1), ('I2', 'NL01', 'EUR', "
            "DATE '2026-10-20', 1), ('I3', 'NL01', 'EUR', DATE '2026-11-02', 0)) "
            "t(ID, COMPANY_CODE, CURRENCY_CODE, VOUCHER_DATE, PROCESS_COMPLETED)"
        )
        con.execute(
            "CREATE TABLE basware.ia_coding_row AS SELECT ID, INVOICE_ID, ACCOUNT_CODE, "
            "COST_CENTER_CODE, NET_SUM::DECIMAL(18,2) AS NET_SUM, TAX_SUM::DECIMAL(18,2) AS "
            "TAX_SUM, GROSS_SUM::DECIMAL(18,2) AS GROSS_SUM FROM (VALUES "
            "('C1', 'I1', '4000', 'CC1', '100.00', '21.00', '121.00'), "
            "('C2', 'I2', '4000', 'CC1', '50.10', '10.52', '60.62'), "
            "('C3', 'I3', '4000', 'CC1', '999.99', '0', '999.99')) "
            "t(ID, INVOICE_ID, ACCOUNT_CODE, COST_CENTER_CODE, NET_SUM, TAX_SUM, GROSS_SUM)"
        )


def _publish(instance):
    return defs.resolve_job_def("visma_publish_job").execute_in_process(
        instance=instance, raise_on_error=False
    )


def test_a_published_export_round_trips_and_is_never_uploaded_twice(visma_sandbox, instance):
    sandbox = visma_sandbox(files_per_type={7101: 1})
    _basware_tables()
    first = _publish(instance)
    assert first.success
    with duckdb.connect(str(snapshots.ensure_working(snapshots.layout())), read_only=True) as con:
        (file_name, file_id, sha256, rows, method) = con.execute(
            "SELECT file_name, file_id, sha256, rows, upload_method FROM visma.published_files"
        ).fetchone()
    assert rows == 1 and method == "multipart"  # I3 is not completed; I1 and I2 are one line
    local = settings.data_dir() / "outbox" / "visma" / file_name
    content = local.read_bytes()
    assert b"2026-10;NL01;4000;CC1;EUR;2;150.10;31.52;181.62" in content

    # Listed to us as publisher, downloaded: the same bytes.
    with visma_resource_from_env().get_client() as client:
        (listed,) = client.list_files(role="publisher")
        assert (listed.file_id, listed.file_name) == (file_id, file_name)
        path, _, downloaded_sha = client.download(listed, local.parent / "check", role="publisher")
    assert path.read_bytes() == content and downloaded_sha == sha256

    uploads = sandbox.counters().get("uploads", 0)
    assert _publish(instance).success  # same content: recorded, not sent
    # A crash after the upload and before the record: Visma's list knows the name.
    with duckdb.connect(str(snapshots.ensure_working(snapshots.layout()))) as con:
        con.execute("DELETE FROM visma.published_files")
    assert _publish(instance).success
    assert sandbox.counters().get("uploads", 0) == uploads
    with duckdb.connect(str(snapshots.ensure_working(snapshots.layout())), read_only=True) as con:
        assert con.execute(
            "SELECT file_id, upload_method FROM visma.published_files"
        ).fetchall() == [(file_id, "found upstream")]

    # New content is a new file.
    with duckdb.connect(str(snapshots.ensure_working(snapshots.layout()))) as con:
        con.execute("UPDATE basware.ia_invoice SET PROCESS_COMPLETED = 1")
    assert _publish(instance).success
    assert sandbox.counters().get("uploads", 0) == uploads + 1


def test_an_upload_visma_refuses_fails_naming_the_file_and_reason(
    visma_sandbox, instance, monkeypatch
):
    sandbox = visma_sandbox(files_per_type={7101: 1})
    _basware_tables()
    monkeypatch.setenv("VISMA_PUBLISH_BUSINESS_TYPE", "134001")  # we subscribe, not publish
    result = _publish(instance)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert "COST_ALLOCATION_" in message and "134001" in message and "403" in message
    assert sandbox.counters().get("uploads", 0) == 0
    with duckdb.connect(str(snapshots.ensure_working(snapshots.layout())), read_only=True) as con:
        published = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'published_files'"
        ).fetchone()
    assert published == (0,)  # nothing recorded as published

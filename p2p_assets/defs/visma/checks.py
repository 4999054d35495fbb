"""Checks on what the Visma files said about themselves and what we stored of them."""

import dagster as dg

from p2p_assets.defs.visma.assets import SUBSCRIPTIONS, asset_key
from p2p_assets.defs.warehouse.resources import DuckDBWarehouse
from p2p_assets.lib.visma.loader import SCHEMA
from p2p_assets.lib.warehouse.connection import table_columns

SAMPLE = 5
SEPA_PAYMENT_FILES = 134001
JOURNAL_POSTINGS = 113003

# Per file and level (the message's GrpHdr, each PmtInf): the stated NbOfTxs and CtrlSum against
# the count and sum of the transfers stored in visma.sepa_payments.
_CONTROL_SUM_MISMATCHES = f"""
WITH stored AS (
    SELECT file_id, source_member, 'message' AS level, message_id AS reference,
           count(*) AS n, sum(amount) AS total
    FROM {SCHEMA}.sepa_payments GROUP BY ALL
    UNION ALL
    SELECT file_id, source_member, 'payment_information', payment_information_id,
           count(*), sum(amount)
    FROM {SCHEMA}.sepa_payments GROUP BY ALL
)
SELECT f.file_name, c.level, c.reference, c.number_of_transactions, coalesce(s.n, 0),
       c.control_sum, coalesce(s.total, 0)
FROM {SCHEMA}.sepa_control_sums c
JOIN {SCHEMA}.files f USING (file_id)
LEFT JOIN stored s USING (file_id, source_member, level, reference)
WHERE c.number_of_transactions IS DISTINCT FROM coalesce(s.n, 0)
   OR (c.control_sum IS NOT NULL AND c.control_sum <> coalesce(s.total, 0))
ORDER BY f.upload_date, f.file_name, c.level, c.reference
"""


def _payments_match_control_sums() -> dg.AssetChecksDefinition:
    return dg.asset_check(
        asset=asset_key(SEPA_PAYMENT_FILES),
        name="payments_match_control_sums",
        description="In every pain.001 file, the transfers stored in visma.sepa_payments number "
        "exactly NbOfTxs and add up exactly to CtrlSum, for the message and for each payment "
        "information block, as the file itself states them.",
        pool="duckdb",
    )(payments_match_control_sums)


def payments_match_control_sums(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        if not table_columns(con, SCHEMA, "sepa_control_sums"):
            return dg.AssetCheckResult(passed=True, metadata={"note": "no payment file loaded"})
        rows = con.execute(_CONTROL_SUM_MISMATCHES).fetchall()
        checked = con.execute(f"SELECT count(*) FROM {SCHEMA}.sepa_control_sums").fetchone()
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "control_sums_checked": int(checked[0]) if checked else 0,
            "mismatches": len(rows),
            "first_mismatches": dg.MetadataValue.json(
                [
                    {
                        "file": r[0],
                        "level": r[1],
                        "reference": r[2],
                        "stated_transactions": r[3],
                        "stored_transactions": r[4],
                        "stated_control_sum": str(r[5]),
                        "stored_sum": str(r[6]),
                    }
                    for r in rows[:SAMPLE]
                ]
            ),  # fmt: skip
        },
    )


def _journals_balance() -> dg.AssetChecksDefinition:
    return dg.asset_check(
        asset=asset_key(JOURNAL_POSTINGS),
        name="journals_balance",
        description="Every payroll journal in visma.journal_postings sums to exactly zero "
        "(debits equal credits), per file.",
        pool="duckdb",
    )(journals_balance)


def journals_balance(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        if not table_columns(con, SCHEMA, "journal_postings"):
            return dg.AssetCheckResult(passed=True, metadata={"note": "no journal file loaded"})
        rows = con.execute(
            f"SELECT f.file_name, j.journal, sum(j.amount) AS balance "
            f"FROM {SCHEMA}.journal_postings j JOIN {SCHEMA}.files f USING (file_id) "
            "GROUP BY ALL HAVING sum(j.amount) <> 0 ORDER BY 1, 2"
        ).fetchall()
        journals = con.execute(
            f"SELECT count(DISTINCT (file_id, journal)) FROM {SCHEMA}.journal_postings"
        ).fetchone()
    return dg.AssetCheckResult(
        passed=not rows,
        metadata={
            "journals_checked": int(journals[0]) if journals else 0,
            "unbalanced": len(rows),
            "first_unbalanced": dg.MetadataValue.json(
                [{"file": r[0], "journal": r[1], "balance": str(r[2])} for r in rows[:SAMPLE]]
            ),
        },
    )


@dg.definitions
def visma_checks() -> dg.Definitions:
    checks = []
    if SEPA_PAYMENT_FILES in SUBSCRIPTIONS:
        checks.append(_payments_match_control_sums())
    if JOURNAL_POSTINGS in SUBSCRIPTIONS:
        checks.append(_journals_balance())
    return dg.Definitions(asset_checks=checks)

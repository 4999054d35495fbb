"""What a mart holds, in a few figures a person reads at a glance: its rows and, for a mart that
lists problems (an `is_problem` column, and `problem_amount`), how many are open, what is at
stake and the first of them as a markdown table. Used by the marts' materialisations and
`p2p-assets sync`.
"""

from dataclasses import dataclass, field
from decimal import Decimal

import duckdb

from p2p_assets.lib.warehouse.connection import quote_ident, table_columns

SHOWN = 20


@dataclass
class Summary:
    relation: str
    rows: int
    problems: int | None = None  # None: the mart lists no problems
    problem_amount: Decimal | None = None
    problems_by_status: dict[str, int] = field(default_factory=dict)
    table: str | None = None  # markdown, the first SHOWN open problems


def amount(value: Decimal | None) -> str:
    return f"{value or 0:,.2f}"


def summarise(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    name: str,
    *,
    problems: bool,
    show: list[str] | None = None,
) -> Summary:
    relation = f"{quote_ident(schema)}.{quote_ident(name)}"
    rows = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
    summary = Summary(relation=f"{schema}.{name}", rows=int(rows))
    columns = table_columns(con, schema, name)
    if not problems or "is_problem" not in columns:
        return summary
    has_amount = "problem_amount" in columns
    count, total = con.execute(
        f"SELECT count(*), {'sum(problem_amount)' if has_amount else 'NULL'} "
        f"FROM {relation} WHERE is_problem"
    ).fetchall()[0]
    summary.problems, summary.problem_amount = int(count), total
    status = next((c for c in ("status", "match_status", "reason") if c in columns), None)
    if status:
        summary.problems_by_status = dict(
            con.execute(
                f"SELECT {quote_ident(status)}, count(*) FROM {relation} WHERE is_problem "
                f"GROUP BY ALL ORDER BY 1"
            ).fetchall()
        )
    shown = [c for c in (show or columns) if c in columns]
    order = "problem_amount DESC NULLS LAST" if has_amount else "1"
    listed = con.execute(
        f"SELECT {', '.join(quote_ident(c) for c in shown)} FROM {relation} "
        f"WHERE is_problem ORDER BY {order} LIMIT {SHOWN}"
    ).fetchall()
    summary.table = markdown(shown, listed, total=summary.problems)
    return summary


def markdown(columns: list[str], rows: list[tuple], *, total: int) -> str:
    def cell(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    if total > len(rows):
        lines.append(f"\n{len(rows)} of {total} shown, largest first.")
    return "\n".join(lines)


def render_line(summary: Summary) -> str:
    """`marts.po_match  1,380 rows, 3 open problems (1,234.50)` for `p2p-assets sync`."""
    line = f"{summary.relation:<36}{summary.rows:>9,} rows"
    if summary.problems is not None:
        line += f", {summary.problems} open problem(s)"
        if summary.problem_amount is not None:
            line += f" ({amount(summary.problem_amount)})"
    return line

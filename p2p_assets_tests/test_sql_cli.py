"""`p2p-assets sql` as a user runs it: a subprocess against a real DuckDB file published the way
the pipeline publishes it (a new read-only file renamed over `P2P_WAREHOUSE`)."""

import json
import os
import queue
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from p2p_assets_tests.conftest import vendor_variables

TIMEOUT = 60


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    for name in vendor_variables(env):
        env.pop(name)
    env.update(P2P_DATA_DIR=str(tmp_path / "data"), P2P_WAREHOUSE=str(tmp_path / "wh.duckdb"))
    return env


def publish(path: Path, invoices: int) -> None:
    """A snapshot with `invoices` rows in basware.ia_invoice, mode 0444, renamed over `path`."""
    new = path.with_name(f"{path.name}.new")
    with duckdb.connect(str(new)) as con:
        con.execute("CREATE SCHEMA basware")
        con.execute(
            "CREATE TABLE basware.ia_invoice AS SELECT 'INV-' || i AS ID,"
            " (i * 10 + 0.5)::DECIMAL(18, 2) AS GROSS_SUM FROM range(1, ? + 1) t(i)",
            [invoices],
        )
        con.execute("CREATE VIEW basware.big_invoices AS FROM basware.ia_invoice")
    new.chmod(0o444)
    os.replace(new, path)


def sql(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "p2p_assets.cli", "sql", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.fixture
def warehouse(env: dict[str, str]) -> Path:
    path = Path(env["P2P_WAREHOUSE"])
    publish(path, invoices=3)
    return path


def test_a_query_prints_its_rows_under_their_column_names(env, warehouse):
    done = sql(env, "SELECT ID, GROSS_SUM FROM basware.ia_invoice ORDER BY ID")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        " ID    | GROSS_SUM",
        "-------+-----------",
        " INV-1 |     10.50",
        " INV-2 |     20.50",
        " INV-3 |     30.50",
        "(3 rows)",
    ]
    assert done.stderr == ""


def test_max_rows_counts_the_rows_left_out(env, warehouse):
    done = sql(env, "--max-rows", "1", "FROM basware.ia_invoice ORDER BY ID")
    assert done.returncode == 0, done.stderr
    assert "INV-1" in done.stdout and "INV-2" not in done.stdout
    assert "(3 rows, 2 more not shown: --max-rows N, 0 for all)" in done.stdout


def test_csv_and_json_hold_every_row_exactly(env, warehouse):
    query = "SELECT ID, GROSS_SUM, NULL AS note FROM basware.ia_invoice ORDER BY ID"
    as_csv = sql(env, "--format", "csv", query)
    assert as_csv.returncode == 0, as_csv.stderr
    assert as_csv.stdout.splitlines() == [
        "ID,GROSS_SUM,note",
        "INV-1,10.50,",
        "INV-2,20.50,",
        "INV-3,30.50,",
    ]
    as_json = sql(env, "--format", "json", query)
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout, parse_float=Decimal)
    assert rows[0] == {"ID": "INV-1", "GROSS_SUM": Decimal("10.50"), "note": None}
    assert len(rows) == 3


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("SELECT * FROM basware.no_such_table", "Catalog Error: Table with name no_such_table"),
        ("SELEC 1", 'Parser Error: syntax error at or near "SELEC"'),
    ],
)
def test_a_bad_query_exits_1_with_the_error_on_one_line(env, warehouse, query, words):
    done = sql(env, query)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("p2p-assets sql: ") and words in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO basware.ia_invoice VALUES ('INV-9', 1)",
        "DELETE FROM basware.ia_invoice",
        "CREATE TABLE basware.mine (x INT)",
        "DROP VIEW basware.big_invoices",
    ],
)
def test_a_write_is_refused_with_duckdbs_read_only_error(env, warehouse, statement):
    done = sql(env, statement)
    assert done.returncode == 1
    assert "attached in read-only mode" in done.stderr
    assert "only the pipeline writes it" in done.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM basware.ia_invoice").fetchall() == [(3,)]
        assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall() == [
            (1,)
        ]


def test_no_warehouse_yet_says_how_to_make_one(env):
    done = sql(env, "SELECT 1")
    assert done.returncode == 1
    assert done.stderr == (
        f"p2p-assets sql: no warehouse yet at {env['P2P_WAREHOUSE']}: run `p2p-assets sync` or "
        "materialise assets first\n"
    )
    assert not Path(env["P2P_WAREHOUSE"]).exists()  # reading never creates it


def test_the_prompt_lists_tables_runs_statements_and_goes_on_after_an_error(env, warehouse):
    script = (
        ".tables\n"
        "SELECT count(*) AS invoices\n"  # a complete line, continued on the next: one statement
        "FROM basware.ia_invoice;\n"
        "SELECT * FROM nowhere;\n"
        "SELECT 'still here' AS answer;\n"
        ".quit\n"
        "SELECT 'after quit' AS answer;\n"
    )
    done = sql(env, stdin=script)
    out = done.stdout.splitlines()
    assert out[:2] == ["basware.big_invoices", "basware.ia_invoice"]
    assert out[2:6] == [" invoices", "----------", "        3", "(1 row)"]
    assert " still here" in out and "after quit" not in done.stdout
    assert done.stderr.startswith("Error: Catalog Error: Table with name nowhere")
    assert done.stderr.count("\n") == 1
    assert done.returncode == 1  # piped input with a failed statement, as a script would want


def test_the_prompt_without_errors_exits_0_at_end_of_input(env, warehouse):
    done = sql(env, stdin="SELECT 42 AS answer\n")  # the last statement needs no ';' at the end
    assert done.returncode == 0, done.stderr
    assert "     42" in done.stdout.splitlines()


def test_the_prompt_sees_a_snapshot_published_between_two_statements(env, warehouse):
    command = [sys.executable, "-m", "p2p_assets.cli", "sql"]
    pipes = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with subprocess.Popen(command, env=env, **pipes) as prompt:
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in prompt.stdout])
        reader.start()

        def count() -> str:
            prompt.stdin.write("SELECT count(*) AS invoices FROM basware.ia_invoice;\n")
            prompt.stdin.flush()
            result = [lines.get(timeout=TIMEOUT) for _ in range(4)]
            assert result[3] == "(1 row)\n", result
            return result[2].strip()

        try:
            assert count() == "3"
            publish(warehouse, invoices=5)
            assert count() == "5"
            prompt.stdin.write(".quit\n")
            prompt.stdin.flush()
            assert prompt.wait(timeout=TIMEOUT) == 0
        finally:
            if prompt.poll() is None:
                prompt.kill()
            reader.join(timeout=TIMEOUT)
        assert prompt.stderr.read() == ""

"""Where each vendor's data came from, recorded in the warehouse file: sandbox and live data never
mix, two live tenants neither, and sandbox data is never sent to a live target."""

from pathlib import Path

import duckdb
import pytest

from p2p_assets.lib.warehouse import sources
from p2p_assets.lib.warehouse.connection import transaction

SANDBOX = sources.Source("basware", sandbox=True, endpoint="sandbox")
LIVE = sources.Source.live("basware", "https://api.basware.com/")
TEST_TENANT = sources.Source.live("basware", "https://test-api.basware.com")


@pytest.fixture
def con(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        yield connection


def test_the_first_writer_records_its_source_and_the_same_source_writes_again(con) -> None:
    with transaction(con):
        sources.claim(con, LIVE)
    with transaction(con):
        sources.claim(con, LIVE)
    assert sources.recorded(con) == {"basware": LIVE}
    assert LIVE.endpoint == "https://api.basware.com"


@pytest.mark.parametrize(
    ("first", "second"), [(SANDBOX, LIVE), (LIVE, SANDBOX), (LIVE, TEST_TENANT)]
)
def test_a_second_source_is_refused_naming_the_file_and_what_to_do(
    con, tmp_path: Path, first: sources.Source, second: sources.Source
) -> None:
    with transaction(con):
        sources.claim(con, first)
    with pytest.raises(sources.MixedSourcesError) as refused:
        with transaction(con):
            sources.claim(con, second)
    message = str(refused.value)
    assert str(tmp_path / "warehouse.duckdb") in message
    assert first.describe() in message and second.describe() in message
    assert "P2P_DATA_DIR" in message
    assert sources.recorded(con) == {"basware": first}


def test_sandbox_data_is_never_sent_to_a_live_target(con) -> None:
    with transaction(con):
        sources.claim(con, SANDBOX)
    target = sources.Source.live("workspace365", "https://acme.workspace365.net")
    with pytest.raises(sources.MixedSourcesError, match="Basware data from the Basware sandbox"):
        sources.check(con, target, reads=("basware",))
    sandbox_target = sources.Source("workspace365", sandbox=True, endpoint="sandbox")
    sources.check(con, sandbox_target, reads=("basware",))


def test_data_of_unknown_origin_is_adopted_by_a_sandbox_and_refused_to_a_live_api(con) -> None:
    # A warehouse written before sources were recorded.
    con.execute("CREATE SCHEMA basware")
    con.execute("CREATE TABLE basware.extracts (extract_id VARCHAR)")
    con.execute("INSERT INTO basware.extracts VALUES ('a')")
    with pytest.raises(sources.MixedSourcesError, match="p2p-assets warehouse adopt basware"):
        sources.check(con, LIVE)
    sources.check(con, SANDBOX)
    sources.record(con, LIVE)  # what `p2p-assets warehouse adopt basware` does
    sources.check(con, LIVE)

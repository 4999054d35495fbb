"""Visma deletes a file's content a month after delivery: a mutation file whose content is gone
fails once, is never asked for again, and after `p2p-assets visma skip` the later files load."""

import duckdb

from p2p_assets.cli import main
from p2p_assets.definitions import defs
from p2p_assets.headless import sync_visma
from p2p_assets.lib.warehouse import snapshots

MUTATIONS = 101100


def _outcomes(report) -> dict[str, tuple[bool, str]]:
    return {o.file_name: (o.success, o.error or "") for o in report.outcomes}


def test_a_mutation_file_whose_content_is_gone_fails_once_and_can_be_skipped(
    visma_sandbox, instance, capsys
):
    sandbox = visma_sandbox(files_per_type={MUTATIONS: 3})
    oldest, *later = sorted(
        (f for f in sandbox.files() if f["business_type"] == MUTATIONS),
        key=lambda f: f["upload_date"],
    )
    sandbox.set_faults(expired_files=(oldest["name"],))

    first = _outcomes(sync_visma(defs, instance))
    ok, error = first[oldest["name"]]
    assert not ok and "Visma no longer holds the content of" in error
    assert f"p2p-assets visma skip {oldest['id']}" in error
    for row in later:  # mutations apply oldest first: they wait, naming the file and the command
        ok, error = first[row["name"]]
        assert not ok and oldest["name"] in error and "p2p-assets visma skip" in error

    calls = sandbox.counters().get("api_calls", 0)
    second = _outcomes(sync_visma(defs, instance))
    assert oldest["name"] not in second  # failed once: never asked for again
    assert all(not second[row["name"]][0] for row in later)
    # Listing and nothing else: the gone file costs no call, the
    # later ones are landed already.
    assert sandbox.counters()["api_calls"] - calls == 1  # one list call for every type

    assert main(["visma", "skip", oldest["id"]]) == 0
    assert "Later files of the type load without it" in capsys.readouterr().out
    third = _outcomes(sync_visma(defs, instance))
    assert oldest["name"] not in third
    assert all(third[row["name"]][0] for row in later)
    with duckdb.connect(str(snapshots.ensure_working(snapshots.layout())), read_only=True) as con:
        loaded = {r[0] for r in con.sql("SELECT file_name FROM visma.files").fetchall()}
    assert loaded == {row["name"] for row in later}


def test_skip_refuses_what_is_not_a_plain_catalogued_unloaded_file(visma_sandbox, capsys):
    visma_sandbox(files_per_type={MUTATIONS: 1})
    assert main(["visma", "skip", "../../etc"]) == 2
    assert "is refused" in capsys.readouterr().err
    assert main(["visma", "skip", "0f0f0f0f-0000-4000-8000-000000000000"]) == 2
    assert "was never listed here" in capsys.readouterr().err

"""The table a person reads in a terminal."""

from decimal import Decimal

from p2p_assets.lib.results import render_table


def test_columns_past_the_terminal_width_are_named_not_wrapped():
    text = render_table(["id", "name", "note"], [(1, "x" * 60, None), (22, "y", None)], width=60)
    assert text.splitlines() == [
        " id | name",
        "----+-" + "-" * 49,
        "  1 | " + "x" * 47 + "…",
        " 22 | y",
        "(2 rows)",
        "(1 more column: note)",
    ]


def test_numbers_align_right_and_the_rows_left_out_are_counted():
    text = render_table(["ID", "GROSS_SUM", "ok"], [("A", Decimal("1.50"), True)], more=2)
    assert text.splitlines() == [
        " ID | GROSS_SUM | ok",
        "----+-----------+------",
        " A  |      1.50 | true",
        "(3 rows, 2 more not shown)",
    ]

"""Oracle DATE values as Basware's extracts show them: a calendar date with a time of day.

The generators produce calendar dates. With `dates_with_time` (the default) each record gets one
time of day, added to every DATE column it has, so whole-day relations between its dates (due
date after invoice date, payment not before the invoice) still hold. The time is drawn from the
seed and the record's ID, so a re-delivered record keeps it; about three records in ten keep
midnight, as dates typed in without a time do.
"""

import numpy as np
import polars as pl

from p2p_assets.sandbox.basware.plan import Plan

MIDNIGHT_IN_TEN = 3


def date_dtype(plan: Plan) -> pl.DataType:
    """How a DATE column is held: Datetime (with its time of day) or a plain Date."""
    return pl.Datetime("us") if plan.config.dates_with_time else pl.Date()


def _id_keys(ids: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Two integers per ID. Every generated ID is 8 hex characters then 24 digits
    (`masters.ids`, `masters.event_ids`): the last 18 digits and the 6 before them."""
    high = ids.str.slice(8, 6).cast(pl.Int64, strict=False).fill_null(0).to_numpy()
    low = ids.str.slice(14).cast(pl.Int64, strict=False).fill_null(0).to_numpy()
    return low, high


def with_times(plan: Plan, table: str, frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`frame` with each record's time of day added to its DATE `columns` (nulls stay null);
    unchanged when DATE values are dates only."""
    names = [name for name in columns if name in frame.columns]
    if not plan.config.dates_with_time or not names or frame.height == 0:
        return frame
    low, high = _id_keys(frame["ID"])
    # Under a day, so the calendar date never moves.
    micros = plan.pick(f"date-time:{table}", low, 86_400, high) * 1_000_000
    midnight = plan.pick(f"date-midnight:{table}", low, 10, high) < MIDNIGHT_IN_TEN
    offset = pl.Series("_offset", np.where(midnight, 0, micros)).cast(pl.Duration("us"))
    return (
        frame.with_columns(offset)
        .with_columns(pl.col(name).cast(pl.Datetime("us")) + pl.col("_offset") for name in names)
        .drop("_offset")
    )

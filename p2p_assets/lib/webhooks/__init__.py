"""The webhook receiver: vendor events stored durably, once each (no Dagster, no DuckDB)."""

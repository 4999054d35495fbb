"""Client for the Boss Insights Data API's write side (no Dagster imports)."""

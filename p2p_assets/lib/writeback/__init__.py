"""Write-back to other systems: the outbox every target shares (no Dagster imports)."""

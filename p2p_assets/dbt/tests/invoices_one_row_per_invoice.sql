-- marts.invoices has exactly one row per invoice of basware.ia_invoice: a row lost or doubled
-- by a join shows here.
{{ config(meta={'dagster': {'ref': {'name': 'invoices'}}}) }}
WITH counts AS (
    SELECT
        (SELECT count(*) FROM {{ source('basware', 'ia_invoice') }}) AS invoices,
        (SELECT count(DISTINCT invoice_id) FROM {{ ref('invoices') }}) AS distinct_rows,
        (SELECT count(*) FROM {{ ref('invoices') }}) AS mart_rows
)
SELECT * FROM counts WHERE invoices <> mart_rows OR distinct_rows <> mart_rows

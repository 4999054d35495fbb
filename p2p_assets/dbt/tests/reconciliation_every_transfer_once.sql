-- Every SEPA transfer of both bank file kinds is in marts.payment_reconciliation exactly once.
{{ config(meta={'dagster': {'ref': {'name': 'payment_reconciliation'}}}) }}
WITH transfers AS (
    SELECT 'pain.001' AS transfer_source, file_id, CAST(transaction_number AS BIGINT) AS position
    FROM {{ source('visma', 'sepa_payments') }}
    UNION ALL
    SELECT 'csv', file_id, CAST(line_number AS BIGINT) FROM {{ source('visma', 'sepa_csv_payments') }}
),
reconciled AS (
    SELECT transfer_source, file_id, position, count(*) AS times
    FROM {{ ref('payment_reconciliation') }}
    WHERE transfer_source IS NOT NULL
    GROUP BY ALL
)
SELECT t.*, coalesce(r.times, 0) AS times
FROM transfers AS t
FULL OUTER JOIN reconciled AS r USING (transfer_source, file_id, position)
WHERE coalesce(r.times, 0) <> 1 OR t.file_id IS NULL

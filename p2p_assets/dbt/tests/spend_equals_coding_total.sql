-- marts.spend_by_supplier_month adds up to the coding rows of the invoices that still count,
-- exactly, per invoice currency (and the rows it counts are all of them).
{{ config(meta={'dagster': {'ref': {'name': 'spend_by_supplier_month'}}}) }}
WITH coding AS (
    SELECT i.CURRENCY_CODE AS invoice_currency, sum(c.NET_SUM) AS total, count(*) AS coding_rows
    FROM {{ source('basware', 'ia_coding_row') }} AS c
    JOIN {{ source('basware', 'ia_invoice') }} AS i ON i.ID = c.INVOICE_ID
    WHERE {{ is_open_invoice('i') }}
    GROUP BY ALL
),
spend AS (
    SELECT invoice_currency, sum(net_amount_invoice_currency) AS total, sum(coding_rows) AS coding_rows
    FROM {{ ref('spend_by_supplier_month') }}
    GROUP BY ALL
)
SELECT *
FROM coding FULL OUTER JOIN spend USING (invoice_currency)
WHERE coding.total IS DISTINCT FROM spend.total
   OR coding.coding_rows IS DISTINCT FROM spend.coding_rows

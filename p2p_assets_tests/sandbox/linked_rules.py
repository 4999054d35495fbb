"""The marts' rules as plain DuckDB SQL over the `basware` and `visma` schemas, for checking what
the sandboxes generate (tests only: the marts themselves live in `p2p_assets/dbt/`)."""

NON_REMOVED = (
    "REMOVAL_DATE IS NULL AND coalesce(STATUS, '') NOT IN ('Removed', 'Cancelled', 'Rejected')"
)


def _norm(column: str) -> str:
    return f"regexp_replace(upper({column}), '[^A-Z0-9]', '', 'g')"


PO_MATCH = f"""
WITH live AS (SELECT ID, INVOICE_DATE FROM basware.ia_invoice WHERE {NON_REMOVED}),
r AS (SELECT ir.* FROM basware.ia_invoice_row ir),
candidate AS (
    SELECT r.ID AS row_id, o_row.ID AS order_row_id, o_row.UNIT_PRICE AS order_price,
        row_number() OVER (
            PARTITION BY r.ID ORDER BY (o_row.ROW_NUMBER = r.ROW_NUMBER) DESC, o_row.ROW_NUMBER
        ) AS rank
    FROM r
    JOIN basware.om_order_data o ON o.ORDER_NUMBER = r.ORDER_NUMBER
    JOIN basware.om_order_row o_row ON o_row.ORDER_ID = o.ID AND o_row.PRODUCT_CODE = r.PRODUCT_CODE
),
matched AS (SELECT * FROM candidate WHERE rank = 1),
received AS (
    SELECT ORDER_ROW_ID, sum(RECEIVED_QUANTITY) AS quantity
    FROM basware.om_goods_receipt GROUP BY ORDER_ROW_ID
),
cumulative AS (
    SELECT r.ID, sum(r.QUANTITY) OVER (
        PARTITION BY m.order_row_id ORDER BY live.INVOICE_DATE, r.INVOICE_ID, r.ROW_NUMBER
        ROWS UNBOUNDED PRECEDING
    ) AS quantity
    FROM r JOIN matched m ON m.row_id = r.ID JOIN live ON live.ID = r.INVOICE_ID
)
SELECT r.ID AS invoice_row_id, r.INVOICE_ID AS invoice_id,
    CASE
        WHEN r.ORDER_NUMBER IS NULL OR m.row_id IS NULL THEN 'no_order'
        WHEN received.ORDER_ROW_ID IS NULL THEN 'not_received'
        WHEN r.UNIT_PRICE > m.order_price * 1.01 THEN 'price_variance'
        WHEN c.quantity > received.quantity THEN 'quantity_variance'
        ELSE 'matched'
    END AS status
FROM r
JOIN live ON live.ID = r.INVOICE_ID
LEFT JOIN matched m ON m.row_id = r.ID
LEFT JOIN received ON received.ORDER_ROW_ID = m.order_row_id
LEFT JOIN cumulative c ON c.ID = r.ID
"""

DUPLICATES = f"""
WITH i AS (
    SELECT ID, SUPPLIER_ID, CURRENCY_CODE, GROSS_SUM, INVOICE_DATE::DATE AS day,
        ltrim({_norm("INVOICE_NUMBER")}, '0') AS number
    FROM basware.ia_invoice WHERE {NON_REMOVED}
)
SELECT a.ID AS first_id, b.ID AS second_id,
    a.number = b.number AS same_number,
    levenshtein(a.number, b.number) <= 2
        OR starts_with(a.number, b.number) OR starts_with(b.number, a.number) AS similar_number,
    abs(date_diff('day', a.day, b.day)) <= 3 AS near_date
FROM i a JOIN i b ON a.ID < b.ID AND a.SUPPLIER_ID = b.SUPPLIER_ID
    AND a.CURRENCY_CODE = b.CURRENCY_CODE AND a.GROSS_SUM = b.GROSS_SUM
"""

TRANSFERS = """
SELECT end_to_end_id, amount, currency, requested_execution_date AS day, creditor_iban,
    remittance_information
FROM visma.sepa_payments
UNION ALL
SELECT end_to_end_id, amount, currency, execution_date, creditor_iban, remittance_information
FROM visma.sepa_csv_payments
"""

RECONCILIATION = f"""
WITH t AS ({TRANSFERS}),
token AS (
    SELECT t.end_to_end_id, {_norm("x.token")} AS token
    FROM t, unnest(regexp_split_to_array(t.remittance_information, '[\\s,;/]+')) AS x(token)
),
invoice AS (
    SELECT i.ID, {_norm("i.INVOICE_NUMBER")} AS number, i.GROSS_SUM, i.CURRENCY_CODE,
        i.PAYMENT_DATE, replace(upper(s.BANK_ACCOUNT), ' ', '') AS iban
    FROM basware.ia_invoice i JOIN basware.adm_supplier s ON s.ID = i.SUPPLIER_ID
    WHERE {NON_REMOVED.replace("REMOVAL_DATE", "i.REMOVAL_DATE").replace("STATUS", "i.STATUS")}
),
hit AS (
    SELECT DISTINCT t.end_to_end_id, invoice.ID AS invoice_id,
        t.amount = invoice.GROSS_SUM AND t.currency = invoice.CURRENCY_CODE AS exact
    FROM t JOIN token USING (end_to_end_id)
    JOIN invoice ON invoice.number = token.token
        AND invoice.iban = replace(upper(t.creditor_iban), ' ', '')
)
SELECT t.end_to_end_id, hit.invoice_id,
    CASE
        WHEN hit.invoice_id IS NULL THEN 'unknown_invoice'
        WHEN row_number() OVER (PARTITION BY hit.invoice_id ORDER BY t.day, t.end_to_end_id) > 1
            THEN 'paid_twice'
        WHEN hit.exact THEN 'matched'
        ELSE 'amount_mismatch'
    END AS status
FROM t LEFT JOIN hit USING (end_to_end_id)
UNION ALL
SELECT NULL, invoice.ID, 'paid_without_transfer'
FROM invoice
WHERE PAYMENT_DATE IS NOT NULL AND CURRENCY_CODE = 'EUR'
    AND PAYMENT_DATE::DATE BETWEEN (SELECT min(day) FROM t) AND (SELECT max(day) FROM t)
    AND ID NOT IN (SELECT invoice_id FROM hit)
"""

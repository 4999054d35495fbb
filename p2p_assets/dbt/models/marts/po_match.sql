-- Three-way match: every invoice row against the purchase order row it bills and that row's
-- goods receipts. An invoice row bills the order row of its ORDER_NUMBER with the same product
-- (several: the one with the same row number, else the first). Status, the first that applies:
--   no_order           the row names no order, or the order or a row with its product is unknown
--   not_received       no goods receipt for the order row
--   price_variance     unit price above the order's by more than var po_price_tolerance_percent
--   quantity_variance  invoiced so far (this and earlier invoices' rows for the order row, in
--                      invoice date order) above the received quantity (var po_quantity_tolerance)
--   matched            otherwise
-- `no_order` is not a problem (invoices without an order are normal); the others are, on
-- invoices that still count.
WITH invoice_rows AS (
    SELECT
        r.ID AS invoice_row_id,
        r.INVOICE_ID AS invoice_id,
        r.ROW_NUMBER AS invoice_row_number,
        r.PRODUCT_CODE AS product_code,
        r.DESCRIPTION AS description,
        CAST(r.QUANTITY AS DECIMAL(18, 3)) AS invoiced_quantity,
        CAST(r.UNIT_PRICE AS DECIMAL(18, 2)) AS invoiced_unit_price,
        CAST(r.NET_SUM AS DECIMAL(18, 2)) AS net_amount,
        nullif(trim(r.ORDER_NUMBER), '') AS order_number,
        i.INVOICE_NUMBER AS invoice_number,
        i.SUPPLIER_ID AS supplier_id,
        i.SUPPLIER_NAME AS supplier_name,
        i.CURRENCY_CODE AS currency,
        CAST(i.INVOICE_DATE AS DATE) AS invoice_date,
        {{ is_open_invoice('i') }} AS invoice_counts
    FROM {{ source('basware', 'ia_invoice_row') }} AS r
    LEFT JOIN {{ source('basware', 'ia_invoice') }} AS i ON i.ID = r.INVOICE_ID
),
order_rows AS (
    SELECT
        o.ORDER_NUMBER AS order_number,
        o.ID AS order_id,
        orow.ID AS order_row_id,
        orow.ROW_NUMBER AS order_row_number,
        orow.PRODUCT_CODE AS product_code,
        CAST(orow.QUANTITY AS DECIMAL(18, 3)) AS ordered_quantity,
        CAST(orow.UNIT_PRICE AS DECIMAL(18, 2)) AS order_unit_price
    FROM {{ source('basware', 'om_order_row') }} AS orow
    JOIN {{ source('basware', 'om_order_data') }} AS o ON o.ID = orow.ORDER_ID
),
billed AS (
    SELECT r.*, o.* EXCLUDE (order_number, product_code)
    FROM invoice_rows AS r
    LEFT JOIN order_rows AS o
        ON o.order_number = r.order_number AND o.product_code IS NOT DISTINCT FROM r.product_code
    QUALIFY row_number() OVER (
        PARTITION BY r.invoice_row_id
        ORDER BY (o.order_row_number = r.invoice_row_number) DESC NULLS LAST, o.order_row_number
    ) = 1
),
receipts AS (
    SELECT
        ORDER_ROW_ID AS order_row_id,
        CAST(sum(RECEIVED_QUANTITY) AS DECIMAL(18, 3)) AS received_quantity,
        list(RECEIPT_NUMBER ORDER BY RECEIPT_DATE, RECEIPT_NUMBER) AS goods_receipt_numbers,
        CAST(max(RECEIPT_DATE) AS DATE) AS last_receipt_date
    FROM {{ source('basware', 'om_goods_receipt') }}
    GROUP BY ALL
),
measured AS (
    SELECT
        b.*,
        g.received_quantity,
        g.goods_receipt_numbers,
        g.last_receipt_date,
        CASE WHEN b.order_row_id IS NOT NULL AND b.invoice_counts THEN
            sum(b.invoiced_quantity) FILTER (WHERE b.invoice_counts) OVER (
                PARTITION BY b.order_row_id
                ORDER BY b.invoice_date, b.invoice_id, b.invoice_row_number
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
            )
        END AS invoiced_quantity_to_date
    FROM billed AS b
    LEFT JOIN receipts AS g USING (order_row_id)
),
classified AS (
    SELECT
        *,
        CASE
            WHEN order_row_id IS NULL THEN 'no_order'
            WHEN received_quantity IS NULL THEN 'not_received'
            WHEN invoiced_unit_price > order_unit_price
                 * (1 + {{ var('po_price_tolerance_percent') }} / 100.0) THEN 'price_variance'
            WHEN invoiced_quantity_to_date > received_quantity + {{ var('po_quantity_tolerance') }}
                THEN 'quantity_variance'
            ELSE 'matched'
        END AS match_status
    FROM measured
)
SELECT
    invoice_row_id,
    invoice_id,
    invoice_number,
    invoice_row_number,
    supplier_id,
    supplier_name,
    invoice_date,
    currency,
    product_code,
    description,
    order_number,
    order_id,
    order_row_id,
    order_row_number,
    goods_receipt_numbers,
    last_receipt_date,
    invoiced_quantity,
    ordered_quantity,
    received_quantity,
    invoiced_quantity_to_date,
    invoiced_unit_price,
    order_unit_price,
    net_amount,
    match_status,
    CASE WHEN order_row_id IS NOT NULL
         THEN CAST(invoiced_unit_price - order_unit_price AS DECIMAL(18, 2)) END
        AS unit_price_variance,
    CASE WHEN order_row_id IS NOT NULL
         THEN CAST((invoiced_unit_price - order_unit_price) * invoiced_quantity AS DECIMAL(18, 2))
    END AS price_variance_amount,
    CASE WHEN received_quantity IS NOT NULL AND invoiced_quantity_to_date IS NOT NULL
         THEN CAST(greatest(invoiced_quantity_to_date - received_quantity, 0) AS DECIMAL(18, 3))
    END AS quantity_variance,
    invoice_counts AS invoice_is_open,
    invoice_counts AND match_status IN ('not_received', 'price_variance', 'quantity_variance')
        AS is_problem,
    CASE
        WHEN NOT invoice_counts THEN NULL
        WHEN match_status = 'not_received' THEN net_amount
        WHEN match_status = 'price_variance'
            THEN CAST((invoiced_unit_price - order_unit_price) * invoiced_quantity AS DECIMAL(18, 2))
        WHEN match_status = 'quantity_variance'
            THEN CAST(least(invoiced_quantity_to_date - received_quantity, invoiced_quantity)
                      * invoiced_unit_price AS DECIMAL(18, 2))
    END AS problem_amount
FROM classified

-- Invoices that may be a second copy of an earlier one, as AP teams look for them: the same
-- supplier, currency and gross amount, and
--   same_number     the same invoice number once written the same way (upper case, letters and
--                   digits only, no leading zeros: "inv-0042" = "INV42")
--   similar_number  numbers at most var duplicate_number_max_edits edits apart, or one the
--                   other with something added ("INV42" and "INV42B")
--   near_date       invoice dates at most var duplicate_date_window_days days apart
-- (the first that applies). Only invoices that still count (not removed, cancelled, rejected).
-- One row per pair: the invoice that reached Basware later is `invoice_id`, the earlier one
-- `duplicate_of_invoice_id`.
WITH invoices AS (
    SELECT
        ID AS invoice_id,
        INVOICE_NUMBER AS invoice_number,
        {{ normalise_reference('INVOICE_NUMBER') }} AS number_key,
        SUPPLIER_ID AS supplier_id,
        SUPPLIER_NAME AS supplier_name,
        CURRENCY_CODE AS currency,
        CAST(GROSS_SUM AS DECIMAL(18, 2)) AS gross_amount,
        CAST(INVOICE_DATE AS DATE) AS invoice_date,
        CREATION_TIME AS received_at,
        PAYMENT_DATE IS NOT NULL OR coalesce(STATUS, '') = 'Paid' AS is_paid
    FROM {{ source('basware', 'ia_invoice') }} AS i
    WHERE {{ is_open_invoice('i') }} AND GROSS_SUM IS NOT NULL AND GROSS_SUM <> 0
),
pairs AS (
    SELECT
        later.*,
        earlier.invoice_id AS duplicate_of_invoice_id,
        earlier.invoice_number AS duplicate_of_invoice_number,
        earlier.invoice_date AS duplicate_of_invoice_date,
        earlier.is_paid AS duplicate_of_is_paid,
        CASE
            WHEN later.number_key = earlier.number_key AND later.number_key <> '' THEN 'same_number'
            WHEN later.number_key <> '' AND earlier.number_key <> '' AND (
                    levenshtein(later.number_key, earlier.number_key)
                        <= {{ var('duplicate_number_max_edits') }}
                    OR starts_with(later.number_key, earlier.number_key)
                    OR starts_with(earlier.number_key, later.number_key)
                 ) THEN 'similar_number'
            WHEN abs(date_diff('day', later.invoice_date, earlier.invoice_date))
                 <= {{ var('duplicate_date_window_days') }} THEN 'near_date'
        END AS reason
    FROM invoices AS later
    JOIN invoices AS earlier
        ON earlier.supplier_id = later.supplier_id
       AND earlier.currency IS NOT DISTINCT FROM later.currency
       AND earlier.gross_amount = later.gross_amount
       AND (earlier.received_at, earlier.invoice_id) < (later.received_at, later.invoice_id)
)
SELECT
    invoice_id,
    duplicate_of_invoice_id,
    reason,
    supplier_id,
    supplier_name,
    currency,
    gross_amount,
    invoice_number,
    duplicate_of_invoice_number,
    invoice_date,
    duplicate_of_invoice_date,
    is_paid,
    duplicate_of_is_paid,
    TRUE AS is_problem,
    gross_amount AS problem_amount
FROM pairs
WHERE reason IS NOT NULL

-- Invoice exceptions for the P2P team's Workspace 365 Business App: open Basware invoices that
-- are overdue, disputed, payment-blocked, or not matched to their purchase order. "Overdue" is
-- measured on the date of the newest committed Basware extract, so re-running gives the same
-- answer until new data arrives. One row per record; `record_key` identifies it in the outbox.
-- `detected_at` is that extract's time as Basware gives it, without a zone (see
-- WORKSPACE365_TIMEZONE). A view: the write-back asset workspace365/invoice_exceptions reads it
-- ordered by record_key.
WITH as_of AS (
    SELECT coalesce(max(extract_date)::DATE, current_date) AS day, max(extract_date) AS at
    FROM {{ source('basware', 'extracts') }}
),
open_invoices AS (
    -- Basware's DATEs carry a time of day; "overdue" compares days.
    SELECT i.* REPLACE (CAST(i.DUE_DATE AS DATE) AS DUE_DATE), a.day AS as_of_date,
           a.at AS as_of_at
    FROM {{ source('basware', 'ia_invoice') }} AS i, as_of AS a
    WHERE i.PAYMENT_DATE IS NULL
      AND i.REMOVAL_DATE IS NULL
      AND coalesce(i.STATUS, '') NOT IN ('Paid', 'Cancelled', 'Rejected', 'Removed')
)
SELECT
    ID AS record_key,
    ID AS basware_invoice_id,
    INVOICE_NUMBER AS invoice_number,
    SUPPLIER_NAME AS supplier,
    GROSS_SUM AS gross_amount,
    CURRENCY_CODE AS currency,
    DUE_DATE AS due_date,
    greatest(date_diff('day', DUE_DATE, as_of_date), 0)::INTEGER AS days_overdue,
    as_of_at AS detected_at,
    'New' AS status,
    list_filter(
        [
            CASE WHEN DUE_DATE < as_of_date THEN 'Overdue' END,
            CASE WHEN DISPUTED = 1 THEN 'Disputed' END,
            CASE WHEN PAYMENT_BLOCK = 1 THEN 'Payment blocked' END,
            CASE WHEN MATCHING_STATUS IN ('NotMatched', 'PartiallyMatched')
                 THEN 'Not matched to a PO' END
        ],
        lambda reason: reason IS NOT NULL
    ) AS reasons
FROM open_invoices
WHERE DUE_DATE < as_of_date
   OR DISPUTED = 1
   OR PAYMENT_BLOCK = 1
   OR MATCHING_STATUS IN ('NotMatched', 'PartiallyMatched')

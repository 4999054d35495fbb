-- One row per Basware invoice (basware.ia_invoice), in the words and units finance uses, with
-- its lifecycle: received, approved, paid, from the action log and the approval tasks.
WITH actions AS (
    SELECT
        DOCUMENT_ID AS invoice_id,
        min(ACTION_TIME) FILTER (WHERE ACTION_CODE = 'RECEIVE') AS received_at,
        max(ACTION_TIME) FILTER (WHERE ACTION_CODE = 'APPROVE') AS approved_at,
        max(ACTION_TIME) FILTER (WHERE ACTION_CODE = 'PAY') AS paid_at
    FROM {{ source('basware', 'ia_action_log') }}
    WHERE coalesce(DOCUMENT_TYPE, 'Invoice') = 'Invoice'
    GROUP BY ALL
),
tasks AS (
    SELECT
        DOCUMENT_ID AS invoice_id,
        max(COMPLETED_TIME) FILTER (WHERE TASK_STATUS = 'Completed') AS approved_at
    FROM {{ source('basware', 'pe_process_task') }}
    WHERE TASK_TYPE = 'Approve'
    GROUP BY ALL
),
invoices AS (
    SELECT
        i.*,
        {{ is_open_invoice('i') }} AS _open,
        i.PAYMENT_DATE IS NOT NULL OR coalesce(i.STATUS, '') = 'Paid' AS _paid,
        coalesce(a.received_at, i.CREATION_TIME) AS _received_at,
        CASE WHEN coalesce(i.STATUS, '') IN ('Approved', 'TransferredToPayment', 'Paid')
                  OR i.PAYMENT_DATE IS NOT NULL
             THEN coalesce(a.approved_at, t.approved_at) END AS _approved_at,
        coalesce(i.PAYMENT_DATE, a.paid_at) AS _paid_at
    FROM {{ source('basware', 'ia_invoice') }} AS i
    LEFT JOIN actions AS a ON a.invoice_id = i.ID
    LEFT JOIN tasks AS t ON t.invoice_id = i.ID
)
SELECT
    i.ID AS invoice_id,
    i.INVOICE_NUMBER AS invoice_number,
    coalesce(i.INVOICE_TYPE, 'Invoice') AS invoice_type,
    i.SUPPLIER_ID AS supplier_id,
    i.SUPPLIER_CODE AS supplier_code,
    i.SUPPLIER_NAME AS supplier_name,
    i.COMPANY_CODE AS company_code,
    i.COMPANY_NAME AS company_name,
    i.ORGANIZATION_ELEMENT_CODE AS organization_element_code,
    i.ORGANIZATION_ELEMENT_NAME AS organization_element_name,
    CAST(i.INVOICE_DATE AS DATE) AS invoice_date,
    CAST(i.DUE_DATE AS DATE) AS due_date,
    CAST(i.VOUCHER_DATE AS DATE) AS voucher_date,
    i.CURRENCY_CODE AS currency,
    CAST(i.NET_SUM AS DECIMAL(18, 2)) AS net_amount,
    CAST(i.TAX_SUM AS DECIMAL(18, 2)) AS tax_amount,
    CAST(i.GROSS_SUM AS DECIMAL(18, 2)) AS gross_amount,
    c.currency AS company_currency,
    CAST(i.NET_SUM_COMP AS DECIMAL(18, 2)) AS net_amount_company_currency,
    CAST(i.GROSS_SUM_COMP AS DECIMAL(18, 2)) AS gross_amount_company_currency,
    i.STATUS AS basware_status,
    CASE i.STATUS
        WHEN 'Received' THEN 'Received'
        WHEN 'InApproval' THEN 'In approval'
        WHEN 'Approved' THEN 'Approved'
        WHEN 'TransferredToPayment' THEN 'Transferred to payment'
        WHEN 'Paid' THEN 'Paid'
        WHEN 'Removed' THEN 'Removed'
        WHEN 'Cancelled' THEN 'Cancelled'
        WHEN 'Rejected' THEN 'Rejected'
        ELSE coalesce(i.STATUS, 'Unknown')
    END AS status,
    i.MATCHING_STATUS AS matching_status,
    coalesce(i.PAYMENT_BLOCK, 0) = 1 AS is_payment_blocked,
    coalesce(i.DISPUTED, 0) = 1 AS is_disputed,
    NOT i._open AS is_removed,
    i._paid AS is_paid,
    i._received_at AS received_at,
    i._approved_at AS approved_at,
    CASE WHEN i._paid THEN i._paid_at END AS paid_at,
    date_diff('day', CAST(i._received_at AS DATE), CAST(i._approved_at AS DATE)) AS days_to_approve,
    CASE WHEN i._paid
         THEN date_diff('day', CAST(i._received_at AS DATE), CAST(i._paid_at AS DATE)) END
        AS days_to_pay,
    CASE WHEN i._paid THEN CAST(i._paid_at AS DATE) <= CAST(i.DUE_DATE AS DATE) END
        AS paid_on_time,
    i._extract_date AS basware_extract_date
FROM invoices AS i
LEFT JOIN {{ ref('company_currencies') }} AS c ON c.company_code = i.COMPANY_CODE

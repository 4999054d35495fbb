-- Does every payment in the bank files belong to an approved invoice, and was every paid invoice
-- paid by one? One row per SEPA credit transfer (visma.sepa_payments from pain.001 files,
-- visma.sepa_csv_payments from CSV lists) and one per paid invoice without a transfer.
-- A transfer pays the invoice (that still counts) whose number is a whole word of the remittance
-- information (compared as normalise_reference writes them) and whose supplier's bank account is
-- the creditor IBAN. Status:
--   matched                amount and currency equal the invoice's gross amount
--   amount_mismatch        the invoice found, another amount or currency
--   unknown_invoice        no invoice of that number for that creditor account
--   paid_twice             the invoice was already paid by an earlier transfer
--   paid_without_transfer  an invoice paid in Basware in euros, on a day the loaded bank files
--                          cover (between their first and last execution dates), with no transfer
-- A break listed in seeds/reconciliation_explanations.csv is explained, not a problem.
WITH transfers AS (
    SELECT
        'pain.001' AS transfer_source, file_id, transaction_number AS position, end_to_end_id,
        CAST(amount AS DECIMAL(18, 2)) AS amount, currency,
        requested_execution_date AS execution_date, creditor_name, creditor_iban,
        remittance_information
    FROM {{ source('visma', 'sepa_payments') }}
    UNION ALL
    SELECT
        'csv' AS transfer_source, file_id, line_number AS position, end_to_end_id,
        CAST(amount AS DECIMAL(18, 2)) AS amount, currency, execution_date, creditor_name,
        creditor_iban, remittance_information
    FROM {{ source('visma', 'sepa_csv_payments') }}
),
words AS (
    SELECT DISTINCT
        t.transfer_source, t.file_id, t.position,
        {{ normalise_reference('word') }} AS number_key
    FROM transfers AS t,
        unnest(string_split_regex(coalesce(t.remittance_information, ''), '[\s,;/]+')) AS w(word)
),
invoices AS (
    SELECT
        i.ID AS invoice_id,
        i.INVOICE_NUMBER AS invoice_number,
        {{ normalise_reference('i.INVOICE_NUMBER') }} AS number_key,
        i.SUPPLIER_ID AS supplier_id,
        i.SUPPLIER_NAME AS supplier_name,
        {{ normalise_iban('s.BANK_ACCOUNT') }} AS supplier_iban,
        CAST(i.GROSS_SUM AS DECIMAL(18, 2)) AS invoice_amount,
        i.CURRENCY_CODE AS invoice_currency,
        CAST(i.PAYMENT_DATE AS DATE) AS payment_date
    FROM {{ source('basware', 'ia_invoice') }} AS i
    LEFT JOIN {{ source('basware', 'adm_supplier') }} AS s ON s.ID = i.SUPPLIER_ID
    WHERE {{ is_open_invoice('i') }}
),
paired AS (
    -- Each transfer with the invoice it pays, if any (of several, the one with the same amount).
    SELECT t.*, i.* EXCLUDE (number_key)
    FROM transfers AS t
    LEFT JOIN (
        words AS w JOIN invoices AS i ON i.number_key = w.number_key AND w.number_key <> ''
    ) ON w.transfer_source = t.transfer_source AND w.file_id = t.file_id
         AND w.position = t.position AND i.supplier_iban = {{ normalise_iban('t.creditor_iban') }}
    QUALIFY row_number() OVER (
        PARTITION BY t.transfer_source, t.file_id, t.position
        ORDER BY (i.invoice_amount = t.amount) DESC NULLS LAST, i.invoice_id
    ) = 1
),
ranked AS (
    SELECT
        *,
        CASE WHEN invoice_id IS NOT NULL THEN row_number() OVER (
            PARTITION BY invoice_id
            ORDER BY execution_date, file_id, transfer_source, position
        ) END AS payment_number
    FROM paired
),
transfer_rows AS (
    SELECT
        transfer_source, file_id, position, end_to_end_id, amount, currency, execution_date,
        creditor_name, creditor_iban, remittance_information,
        invoice_id, invoice_number, supplier_id, supplier_name, invoice_amount, invoice_currency,
        payment_date,
        CASE
            WHEN invoice_id IS NULL THEN 'unknown_invoice'
            WHEN payment_number > 1 THEN 'paid_twice'
            WHEN amount = invoice_amount AND currency IS NOT DISTINCT FROM invoice_currency
                THEN 'matched'
            ELSE 'amount_mismatch'
        END AS status
    FROM ranked
),
covered AS (
    SELECT min(execution_date) AS first_day, max(execution_date) AS last_day FROM transfers
),
unpaid_rows AS (
    SELECT
        NULL AS transfer_source, NULL AS file_id, NULL AS position, NULL AS end_to_end_id,
        NULL AS amount, NULL AS currency, NULL AS execution_date, NULL AS creditor_name,
        NULL AS creditor_iban, NULL AS remittance_information,
        i.invoice_id, i.invoice_number, i.supplier_id, i.supplier_name, i.invoice_amount,
        i.invoice_currency, i.payment_date,
        'paid_without_transfer' AS status
    FROM invoices AS i, covered AS c
    WHERE i.payment_date BETWEEN c.first_day AND c.last_day
      AND i.invoice_currency = 'EUR'
      AND NOT EXISTS (SELECT 1 FROM transfer_rows AS t WHERE t.invoice_id = i.invoice_id)
),
all_rows AS (
    SELECT * FROM transfer_rows
    UNION ALL BY NAME
    SELECT * FROM unpaid_rows
)
SELECT
    r.end_to_end_id,
    r.invoice_id,
    r.status,
    r.transfer_source,
    r.file_id,
    CAST(r.position AS BIGINT) AS position,
    CAST(r.execution_date AS DATE) AS execution_date,
    CAST(r.amount AS DECIMAL(18, 2)) AS amount,
    CAST(r.currency AS VARCHAR) AS currency,
    CAST(r.creditor_name AS VARCHAR) AS creditor_name,
    CAST(r.creditor_iban AS VARCHAR) AS creditor_iban,
    CAST(r.remittance_information AS VARCHAR) AS remittance_information,
    r.invoice_number,
    r.supplier_id,
    r.supplier_name,
    r.invoice_amount,
    r.invoice_currency,
    r.payment_date,
    CAST(r.amount - r.invoice_amount AS DECIMAL(18, 2)) AS amount_difference,
    e.explanation,
    r.status <> 'matched' AND e.explanation IS NULL AS is_problem,
    CASE
        WHEN r.status = 'matched' OR e.explanation IS NOT NULL THEN NULL
        WHEN r.status = 'amount_mismatch' THEN CAST(abs(r.amount - r.invoice_amount) AS DECIMAL(18, 2))
        WHEN r.status = 'paid_without_transfer' THEN r.invoice_amount
        ELSE CAST(r.amount AS DECIMAL(18, 2))
    END AS problem_amount
FROM all_rows AS r
LEFT JOIN {{ ref('reconciliation_explanations') }} AS e
    ON (e.end_to_end_id IS NULL OR e.end_to_end_id = r.end_to_end_id)
   AND (e.invoice_id IS NULL OR e.invoice_id = r.invoice_id)
   AND (e.end_to_end_id IS NOT NULL OR e.invoice_id IS NOT NULL)
QUALIFY row_number() OVER (
    PARTITION BY r.transfer_source, r.file_id, r.position, r.invoice_id ORDER BY e.explanation
) = 1

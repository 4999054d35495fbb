-- Basware invoices as Boss Insights Common Data Model payable invoices, referring to their vendor
-- by its Basware supplier id. Amounts stay exact decimals here; they are sent in the currency's
-- minor unit (cents). Invoices removed in Basware are not sent. Each column becomes the CDM field
-- payable_invoices.fields.toml (in p2p_assets/defs/boss_insights/queries/) maps it to;
-- `record_key` identifies the record in writeback.outbox; a changed status or payment is sent
-- again as BOSS_INSIGHTS_UPDATE says (unset: only reported). A view: the write-back asset
-- boss_insights/payable_invoices reads it ordered by record_key.
-- Basware's DATEs carry a time of day; the CDM's dates are days.
SELECT
    ID AS record_key,
    ID AS external_id,
    SUPPLIER_ID AS vendor_external_id,
    INVOICE_NUMBER AS number,
    CAST(INVOICE_DATE AS DATE) AS issue_date,
    CAST(DUE_DATE AS DATE) AS due_date,
    CURRENCY_CODE AS currency,
    NET_SUM AS subtotal,
    TAX_SUM AS tax,
    GROSS_SUM AS total,
    STATUS AS status,
    CAST(PAYMENT_DATE AS DATE) AS paid_date
FROM {{ source('basware', 'ia_invoice') }}
WHERE REMOVAL_DATE IS NULL

-- Basware suppliers as Boss Insights Common Data Model vendors. One row per supplier; each column
-- becomes the CDM field vendors.fields.toml (in p2p_assets/defs/boss_insights/queries/) maps it
-- to (with its type), and `record_key` identifies the record in writeback.outbox. Bank accounts
-- are not sent. A view: the write-back asset boss_insights/vendors reads it ordered by record_key.
SELECT
    ID AS record_key,
    ID AS external_id,
    SUPPLIER_CODE AS code,
    SUPPLIER_NAME AS name,
    VAT_NUMBER AS tax_number,
    COUNTRY_CODE AS country,
    CITY AS city,
    POSTAL_CODE AS postal_code,
    CURRENCY_CODE AS currency,
    PAYMENT_TERM_DAYS AS payment_terms_days,
    coalesce(BLOCKED, 0) = 0 AS active
FROM {{ source('basware', 'adm_supplier') }}

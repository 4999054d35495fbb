-- What we spend with whom: the coding rows of every invoice that still counts, by supplier,
-- company, month of the invoice date, cost centre and account. Amounts in the company's
-- currency: each coding row converted at its invoice's own rate (NET_SUM_COMP / NET_SUM), to the
-- cent; and in the invoice's currency.
WITH coding AS (
    SELECT
        i.SUPPLIER_ID AS supplier_id,
        i.SUPPLIER_NAME AS supplier_name,
        i.COMPANY_CODE AS company_code,
        CAST(date_trunc('month', i.INVOICE_DATE) AS DATE) AS month,
        c.COST_CENTER_CODE AS cost_center_code,
        c.ACCOUNT_CODE AS account_code,
        c.ACCOUNT_NAME AS account_name,
        i.CURRENCY_CODE AS invoice_currency,
        c.INVOICE_ID AS invoice_id,
        CAST(c.NET_SUM AS DECIMAL(18, 2)) AS net_amount_invoice_currency,
        {{ convert_amount('c.NET_SUM', 'i.NET_SUM', 'i.NET_SUM_COMP') }} AS net_amount
    FROM {{ source('basware', 'ia_coding_row') }} AS c
    JOIN {{ source('basware', 'ia_invoice') }} AS i ON i.ID = c.INVOICE_ID
    WHERE {{ is_open_invoice('i') }}
)
SELECT
    supplier_id,
    any_value(supplier_name) AS supplier_name,
    company_code,
    any_value(cc.currency) AS company_currency,
    month,
    cost_center_code,
    account_code,
    any_value(account_name) AS account_name,
    invoice_currency,
    CAST(sum(net_amount) AS DECIMAL(18, 2)) AS net_amount,
    CAST(sum(net_amount_invoice_currency) AS DECIMAL(18, 2)) AS net_amount_invoice_currency,
    count(DISTINCT invoice_id) AS invoices,
    count(*) AS coding_rows
FROM coding
LEFT JOIN {{ ref('company_currencies') }} AS cc USING (company_code)
GROUP BY supplier_id, company_code, month, cost_center_code, account_code, invoice_currency

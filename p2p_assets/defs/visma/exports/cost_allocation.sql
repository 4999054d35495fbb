-- P2P cost allocation: what Basware coded, per month, company, account and cost centre, for
-- invoices whose processing is completed. Published to Visma (see publishing.py); edit freely:
-- the published file is this query's result as `;`-separated CSV with a header line.
SELECT
    strftime(i.VOUCHER_DATE, '%Y-%m') AS period,
    i.COMPANY_CODE AS company_code,
    c.ACCOUNT_CODE AS account_code,
    c.COST_CENTER_CODE AS cost_centre,
    i.CURRENCY_CODE AS currency,
    count(DISTINCT i.ID) AS invoices,
    sum(c.NET_SUM) AS net_amount,
    sum(c.TAX_SUM) AS tax_amount,
    sum(c.GROSS_SUM) AS gross_amount
FROM basware.ia_coding_row AS c
JOIN basware.ia_invoice AS i ON i.ID = c.INVOICE_ID
WHERE i.PROCESS_COMPLETED = 1 AND i.VOUCHER_DATE IS NOT NULL
GROUP BY ALL
ORDER BY period, company_code, account_code, cost_centre, currency

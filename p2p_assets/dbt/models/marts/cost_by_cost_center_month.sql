-- What each cost centre costs per month, purchases and payroll side by side: Basware coding
-- (`ap_net_amount`, company currency, from spend_by_supplier_month) and Visma payroll journal
-- postings (`payroll_amount`, the payroll period's month; the contra accounts that balance a
-- journal are left out). One row per cost centre, month and currency.
WITH ap AS (
    SELECT
        cost_center_code,
        month,
        company_currency AS currency,
        sum(net_amount) AS ap_net_amount
    FROM {{ ref('spend_by_supplier_month') }}
    GROUP BY ALL
),
payroll AS (
    SELECT
        cost_centre AS cost_center_code,
        coalesce(
            CAST(try_strptime(period, '%Y%m') AS DATE),
            CAST(date_trunc('month', posting_date) AS DATE)
        ) AS month,
        '{{ var("payroll_currency") }}' AS currency,
        sum(amount) AS payroll_amount
    FROM {{ source('visma', 'journal_postings') }}
    WHERE account NOT IN (
        {%- for account in var("payroll_contra_accounts") %}'{{ account }}'{{ "," if not loop.last }}{% endfor -%}
    )
    GROUP BY ALL
)
SELECT
    cost_center_code,
    month,
    currency,
    CAST(coalesce(ap.ap_net_amount, 0) AS DECIMAL(18, 2)) AS ap_net_amount,
    CAST(coalesce(payroll.payroll_amount, 0) AS DECIMAL(18, 2)) AS payroll_amount,
    CAST(coalesce(ap.ap_net_amount, 0) + coalesce(payroll.payroll_amount, 0) AS DECIMAL(18, 2))
        AS total_amount
FROM ap
FULL OUTER JOIN payroll USING (cost_center_code, month, currency)

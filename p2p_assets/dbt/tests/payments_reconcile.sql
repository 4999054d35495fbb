-- Fails while the bank files and Basware disagree: a transfer of an unknown invoice or of the
-- wrong amount, an invoice paid twice, or paid in Basware without a transfer, that nobody has
-- explained in seeds/reconciliation_explanations.csv. Dagster shows the count and the amount.
{{ config(meta={'dagster': {'ref': {'name': 'payment_reconciliation'}}, 'p2p': {'finding': true}}) }}
SELECT status, end_to_end_id, invoice_id, invoice_number, amount, invoice_amount, problem_amount
FROM {{ ref('payment_reconciliation') }}
WHERE is_problem

{#- Shared rules of the marts, one place each. -#}

{#- An invoice that still counts: not removed, cancelled or rejected in Basware. -#}
{% macro is_open_invoice(alias) -%}
    ({{ alias }}.REMOVAL_DATE IS NULL
     AND coalesce({{ alias }}.STATUS, '') NOT IN ('Removed', 'Cancelled', 'Rejected'))
{%- endmacro %}

{#- A reference as people compare them: upper case, letters and digits only, no leading zeros
    ("inv-00123 " and "INV00123" are the same number). -#}
{% macro normalise_reference(expression) -%}
    ltrim(regexp_replace(upper(coalesce({{ expression }}, '')), '[^A-Z0-9]', '', 'g'), '0')
{%- endmacro %}

{#- An IBAN as banks compare them: upper case, no spaces. -#}
{% macro normalise_iban(expression) -%}
    replace(upper(trim({{ expression }})), ' ', '')
{%- endmacro %}

{#- `amount` converted at the rate `to_total / from_total`, rounded half away from zero to the
    cent in integer arithmetic (DuckDB divides DECIMALs as DOUBLEs): exact and repeatable. -#}
{% macro convert_amount(amount, from_total, to_total) -%}
    CASE
        WHEN {{ from_total }} IS NULL OR {{ to_total }} IS NULL THEN NULL
        WHEN {{ from_total }} = 0 THEN CAST({{ amount }} AS DECIMAL(18, 2))
        ELSE CAST(
            CAST(
                sign(CAST({{ amount }} * 100 AS HUGEINT) * CAST({{ to_total }} * 100 AS HUGEINT))
                * sign(CAST({{ from_total }} * 100 AS HUGEINT))
                * ((abs(CAST({{ amount }} * 100 AS HUGEINT) * CAST({{ to_total }} * 100 AS HUGEINT)) * 2
                    + abs(CAST({{ from_total }} * 100 AS HUGEINT)))
                   // (2 * abs(CAST({{ from_total }} * 100 AS HUGEINT))))
                AS DECIMAL(38, 0)
            ) * CAST(0.01 AS DECIMAL(3, 2))
            AS DECIMAL(18, 2)
        )
    END
{%- endmacro %}

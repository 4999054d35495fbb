{#- A model's `schema` config is the DuckDB schema it lands in, as is (`marts`), not dbt's
    default `<target schema>_marts`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}

{#-
    `+schema: staging` lands in schema `staging` exactly (dbt's default would
    be `<target schema>_staging`). Models without a custom schema go to the
    target's schema. The marts go to var `marts_schema`: the pipeline builds
    them into `marts_build` and publishes that schema as `marts` only after
    the marts gate passed (warehouse/publish.py); a plain `dbt build` writes
    `marts` directly.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif custom_schema_name | trim == 'marts' -%}
        {{ var('marts_schema', 'marts') }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

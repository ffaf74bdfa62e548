{#-
    A personal column of the golden record as BI marts show it: the value when
    the column is listed in var `bi_personal_columns`, otherwise null. The
    column stays (dashboards keep working when the list changes) and keeps its
    type: `case when false then x end` is a null of x's type.
-#}
{% macro bi_personal(column) -%}
    {%- if column in var('bi_personal_columns') -%}
        {{ column }}
    {%- else -%}
        case when false then {{ column }} end as {{ column }}
    {%- endif -%}
{%- endmacro %}

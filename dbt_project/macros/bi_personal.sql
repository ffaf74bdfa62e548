{#-
    A personal column of the golden record as BI marts show it: the value when
    the column is listed in var `bi_personal_columns` (text neutralised for
    spreadsheets by bi_text), otherwise null. The
    column stays (dashboards keep working when the list changes) and keeps its
    type: `case when false then x end` is a null of x's type.
-#}
{% macro bi_personal(column, is_text=true) -%}
    {%- if column in var('bi_personal_columns') -%}
        {%- if is_text %}{{ bi_text(column) }} as {{ column }}{% else %}{{ column }}{% endif -%}
    {%- else -%}
        case when false then {{ column }} end as {{ column }}
    {%- endif -%}
{%- endmacro %}


{#- The golden record's personal columns, each as bi_personal shows it. -#}
{% macro bi_personal_golden_columns() -%}
    {%- for column in ['first_name', 'last_name', 'email', 'phone', 'city', 'postcode', 'country', 'date_of_birth'] %}
        {{ bi_personal(column, is_text=column != 'date_of_birth') }},
    {%- endfor %}
{%- endmacro %}

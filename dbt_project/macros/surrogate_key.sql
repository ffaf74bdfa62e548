{#- md5 of the columns' text values joined by '-', nulls written as '_null_' -#}
{% macro surrogate_key(columns) -%}
    md5(
        {%- for c in columns %}
        coalesce(cast({{ c }} as text), '_null_'){% if not loop.last %} || '-' ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}

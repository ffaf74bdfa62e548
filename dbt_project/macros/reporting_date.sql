{#-
    The calendar date of a timestamp in the reporting time zone (var reporting_timezone),
    as fct_orders.order_date is cut: every mart counts a day the same way.
-#}
{% macro reporting_date(col) -%}
    cast({{ col }} at time zone '{{ var("reporting_timezone") }}' as date)
{%- endmacro %}

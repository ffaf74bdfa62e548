{#-
    One row per day from start_date to end_date (both included), in a column date_day.
    Arguments are SQL expressions of type date. Dispatched: generate_series is Postgres;
    another adapter adds its own <adapter>__date_spine.
-#}
{% macro date_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__date_spine(start_date, end_date) -%}
    select cast(day as date) as date_day
    from generate_series(
        cast({{ start_date }} as timestamp),
        cast({{ end_date }} as timestamp),
        interval '1 day'
    ) as day
{%- endmacro %}

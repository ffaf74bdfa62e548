{#-
    For an incremental fact: keep only the rows of `relation` (a CTE) that are new,
    whose customer changed since the last build (identity merges and splits), or that
    were loaded within var fact_lookback_days of the newest row already built, so a
    delivery that committed late is never skipped. Merged on `key`, the result equals
    a full refresh.
-#}
{% macro incremental_changes(relation, key) -%}
    {%- if is_incremental() %}
    left join {{ this }} as existing
        on existing.{{ key }} = {{ relation }}.{{ key }}
    where existing.{{ key }} is null
        or existing.customer_id is distinct from {{ relation }}.customer_id
        or {{ relation }}._loaded_at >= (select max(_loaded_at) from {{ this }})
            - interval '{{ var("fact_lookback_days") }} days'
    {%- endif %}
{%- endmacro %}

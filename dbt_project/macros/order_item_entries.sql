{#- Product code for joining across sources: trimmed, upper case; empty -> null ('sku0001 ' -> 'SKU0001'). -#}
{% macro normalise_sku(col) -%}
    nullif(upper(btrim({{ col }})), '')
{%- endmacro %}


{#-
    Quantity of one entry 'SKU*qty' of an items string; an entry without a numeric
    quantity counts as one item (the rule of item_count(), so lines add up to it).
-#}
{% macro item_entry_quantity(entry) -%}
    case
        when split_part({{ entry }}, '*', 2) ~ '^[0-9]+$' then split_part({{ entry }}, '*', 2)::integer
        else 1
    end
{%- endmacro %}

{#-
    Number of items in an items string 'SKU*qty|SKU*qty'; an entry without a
    numeric quantity counts as one item. Null or empty -> 0.
-#}
{% macro item_count(col) -%}
    coalesce((
        select sum(
            case
                when split_part(item, '*', 2) ~ '^[0-9]+$' then split_part(item, '*', 2)::integer
                else 1
            end
        )
        from unnest(string_to_array(nullif({{ col }}, ''), '|')) as item
        where btrim(item) <> ''
    ), 0)
{%- endmacro %}

{#-
    The per-customer order summary every customer mart starts from: one row per customer
    with an order in `orders` (a relation or CTE shaped like fct_orders), optionally only
    orders dated before `before_date` (a SQL date expression). One definition, so
    customer_360, customer_rfm and customer_value_pareto count orders and revenue the same way.
    (crm_scorecard_monthly counts per customer and month; the ML step builds its features in
    Python at many past cut-offs for training, see docs/decisions.md.)
-#}
{% macro customer_order_summary(orders, before_date=none) -%}
    select
        {{ orders }}.customer_id,
        min({{ orders }}.ordered_at) as first_order_at,
        max({{ orders }}.ordered_at) as last_order_at,
        min({{ orders }}.order_date) as first_order_date,
        max({{ orders }}.order_date) as last_order_date,
        count(*) as order_count,
        sum({{ orders }}.amount) as total_revenue,
        round(avg({{ orders }}.amount), 2) as average_order_value,
        string_agg(distinct {{ orders }}.channel, ',' order by {{ orders }}.channel) as channels_used
    from {{ orders }}
    where {{ orders }}.customer_id is not null
    {%- if before_date is not none %}
        and {{ orders }}.order_date < {{ before_date }}
    {%- endif %}
    group by {{ orders }}.customer_id
{%- endmacro %}

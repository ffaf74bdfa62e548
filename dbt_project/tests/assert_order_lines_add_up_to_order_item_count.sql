-- Fails on orders whose line quantities in fct_order_lines do not add up to
-- fct_orders.item_count: the two parse the items string differently.
{{ config(severity='error') }}

with

orders as (

    select * from {{ ref('fct_orders') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

line_totals as (

    select
        order_key,
        sum(quantity) as quantity
    from order_lines
    group by order_key

)

select
    orders.order_key,
    orders.item_count,
    coalesce(line_totals.quantity, 0) as line_quantity
from orders
left join line_totals on line_totals.order_key = orders.order_key
where orders.item_count <> coalesce(line_totals.quantity, 0)

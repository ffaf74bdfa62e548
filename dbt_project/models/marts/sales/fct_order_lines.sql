-- One row per entry of an order's items string ('SKU*qty|SKU*qty'), for the orders
-- of fct_orders. The items string carries no prices, so lines have a quantity but
-- no amount: revenue stays at order grain (fct_orders.amount).
-- Entries are parsed with the rule of macro item_count, so an order's line
-- quantities add up to its fct_orders.item_count (a singular test checks it).
with

orders_unioned as (

    select * from {{ ref('int_orders_unioned') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

order_items as (

    select
        {{ surrogate_key(['orders_unioned.source', 'orders_unioned.source_order_id']) }} as order_key,
        orders_unioned.items
    from orders_unioned
    where nullif(orders_unioned.items, '') is not null

),

item_entries as (

    -- one row per '|'-separated entry, keeping its position in the string
    select
        order_items.order_key,
        entry.line_number,
        entry.item
    from order_items
    cross join lateral unnest(string_to_array(order_items.items, '|'))
        with ordinality as entry (item, line_number)
    where btrim(entry.item) <> ''

),

final as (

    select
        {{ surrogate_key(['item_entries.order_key', 'item_entries.line_number']) }} as order_line_key,
        item_entries.order_key,
        orders.source,
        orders.source_order_id,
        orders.customer_id,
        {{ normalise_sku("split_part(item_entries.item, '*', 1)") }} as product_sku,
        orders.channel,
        orders.store_id,
        cast(item_entries.line_number as integer) as line_number,
        {{ item_entry_quantity('item_entries.item') }} as quantity,
        orders.order_date,
        orders.ordered_at
    from item_entries
    inner join orders on orders.order_key = item_entries.order_key

)

select * from final

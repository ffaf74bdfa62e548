-- Store and web orders at order grain, linked to the resolved customer.
-- Anonymous store sales (no loyalty card) keep a null customer_id.
with

orders as (

    select * from {{ ref('int_orders_unioned') }}

),

customer_source_xref as (

    select * from {{ source('identity', 'customer_source_xref') }}

),

orders_with_customer as (

    select
        {{ surrogate_key(['orders.source', 'orders.source_order_id']) }} as order_key,
        orders.source,
        orders.source_order_id,
        customer_source_xref.customer_id,
        orders.channel,
        orders.store_id,
        orders.ordered_at,
        cast(orders.ordered_at at time zone '{{ var("reporting_timezone") }}' as date) as order_date,
        orders.amount,
        orders.currency,
        orders.item_count
    from orders
    left join customer_source_xref
        on customer_source_xref.source = orders.source
        and customer_source_xref.source_record_key = orders.source_record_key

),

final as (

    select * from orders_with_customer

)

select * from final

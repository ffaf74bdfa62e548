-- Store and web orders at order grain, linked to the resolved customer.
-- Anonymous store sales (no loyalty card) keep a null customer_id.
-- Incremental: each run merges only the orders that are new, re-delivered or
-- linked to another customer since (macro incremental_changes).
{{ config(materialized='incremental', unique_key='order_key', incremental_strategy='merge',
          on_schema_change='sync_all_columns') }}

with

orders as (

    select * from {{ ref('int_orders_unioned') }}

),

customer_source_xref as (

    select * from {{ ref('stg_identity__customer_source_xref') }}

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
        orders.item_count,
        orders._loaded_at
    from orders
    left join customer_source_xref
        on customer_source_xref.source = orders.source
        and customer_source_xref.source_record_key = orders.source_record_key

),

final as (

    select orders_with_customer.*
    from orders_with_customer
    {{ incremental_changes('orders_with_customer', 'order_key') }}

)

select * from final

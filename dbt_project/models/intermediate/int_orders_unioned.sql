-- Store and web orders in one shape, at order grain, with the key that links
-- each order to identity.customer_source_xref (null for anonymous store sales).
with

pos_transactions as (

    select * from {{ ref('stg_pos__transactions') }}

),

web_orders as (

    select * from {{ ref('stg_web__orders') }}

),

store_orders as (

    select
        'pos_transactions' as source,
        transaction_id as source_order_id,
        loyalty_id as source_record_key,
        'store' as channel,
        store_id,
        transaction_at as ordered_at,
        amount,
        currency,
        items,
        _loaded_at
    from pos_transactions

),

online_orders as (

    select
        'web_orders' as source,
        order_id as source_order_id,
        web_account_id as source_record_key,
        'web' as channel,
        cast(null as text) as store_id,
        ordered_at,
        amount,
        currency,
        items,
        _loaded_at
    from web_orders

),

unioned as (

    select * from store_orders
    union all
    select * from online_orders

),

final as (

    select
        *,
        {{ item_count('items') }} as item_count
    from unioned

)

select * from final

-- One row per store that has sold something (store_id of the till transactions in
-- fct_orders). The till data carries no store names or addresses, so the store's
-- attributes are what its sales tell: when it traded and how much.
with

orders as (

    select * from {{ ref('fct_orders') }}

),

store_sales as (

    select
        store_id,
        count(*) as transaction_count,
        count(*) filter (where customer_id is not null) as identified_transaction_count,
        count(distinct customer_id) as customer_count,
        sum(amount) as revenue,
        min(order_date) as first_sale_date,
        max(order_date) as last_sale_date
    from orders
    where channel = 'store'
        and store_id is not null
    group by store_id

),

final as (

    select
        store_id,
        transaction_count,
        identified_transaction_count,
        customer_count,
        revenue,
        cast(identified_transaction_count::numeric / transaction_count as numeric(5, 4))
            as identified_transaction_share,
        first_sale_date,
        last_sale_date
    from store_sales

)

select * from final

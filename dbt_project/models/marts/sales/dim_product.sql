-- One row per product code seen anywhere: in order lines, web click-stream events
-- and warranty registrations. The sources carry no product names, categories or
-- prices, so a product is described by its activity. Codes are compared trimmed
-- and upper-cased (macro normalise_sku).
with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

web_events as (

    select * from {{ ref('stg_web__events') }}

),

product_registrations as (

    select * from {{ ref('stg_product__registrations') }}

),

sales as (

    select
        product_sku,
        count(distinct order_key) as order_count,
        sum(quantity) as units_sold,
        count(distinct customer_id) as customer_count,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from order_lines
    where product_sku is not null
    group by product_sku

),

web_activity as (

    select
        {{ normalise_sku('product_sku') }} as product_sku,
        count(*) as web_event_count,
        min({{ reporting_date('occurred_at') }}) as first_web_event_date
    from web_events
    where {{ normalise_sku('product_sku') }} is not null
    group by 1

),

registrations as (

    select
        {{ normalise_sku('product_sku') }} as product_sku,
        count(*) as registration_count,
        min({{ reporting_date('registered_at') }}) as first_registration_date
    from product_registrations
    where {{ normalise_sku('product_sku') }} is not null
    group by 1

),

all_products as (

    select product_sku from sales
    union
    select product_sku from web_activity
    union
    select product_sku from registrations

),

final as (

    select
        all_products.product_sku,
        coalesce(sales.order_count, 0) as order_count,
        coalesce(sales.units_sold, 0) as units_sold,
        coalesce(sales.customer_count, 0) as customer_count,
        coalesce(web_activity.web_event_count, 0) as web_event_count,
        coalesce(registrations.registration_count, 0) as registration_count,
        least(
            sales.first_order_date, web_activity.first_web_event_date, registrations.first_registration_date
        ) as first_seen_date,
        sales.first_order_date,
        sales.last_order_date
    from all_products
    left join sales on sales.product_sku = all_products.product_sku
    left join web_activity on web_activity.product_sku = all_products.product_sku
    left join registrations on registrations.product_sku = all_products.product_sku

)

select * from final

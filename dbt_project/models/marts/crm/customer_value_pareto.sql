-- The 80/20 curve: customers with an order ranked by their revenue (all their
-- orders in fct_orders), highest first, and for each percentile p = 1..100 the
-- revenue of the top p% of them.
--
-- The top p% are the customers whose rank r satisfies ceil(100 * r / n) <= p, that
-- is the first floor(p * n / 100) of the n buying customers (ties in revenue broken
-- by customer_id). customer_360.value_decile uses the same rule, so the customers
-- with value_decile <= d are exactly customer_count at percentile 10 * d.
with

orders as (

    select * from {{ ref('fct_orders') }}

),

customer_revenue as (

    select
        customer_id,
        total_revenue as revenue
    from ({{ customer_order_summary('orders') }}) as order_summary

),

ranked as (

    select
        row_number() over (order by revenue desc, customer_id) as revenue_rank,
        sum(revenue) over (
            order by revenue desc, customer_id
            rows between unbounded preceding and current row
        ) as cumulative_revenue
    from customer_revenue

),

totals as (

    select
        count(*) as customers,
        sum(revenue) as revenue
    from customer_revenue

),

percentiles as (

    select
        cast(percentile as integer) as customer_percentile,
        cast(floor(percentile * totals.customers / 100.0) as integer) as customer_count,
        totals.customers as total_customers,
        totals.revenue as total_revenue
    from generate_series(1, 100) as percentile
    cross join totals
    where totals.customers > 0

),

final as (

    select
        percentiles.customer_percentile,
        percentiles.customer_count,
        cast(percentiles.customer_count::numeric / percentiles.total_customers as numeric(5, 4)) as customer_share,
        cast(coalesce(ranked.cumulative_revenue, 0) as numeric(18, 2)) as cumulative_revenue,
        cast(coalesce(ranked.cumulative_revenue, 0) / nullif(percentiles.total_revenue, 0) as numeric(9, 6))
            as cumulative_revenue_share
    from percentiles
    left join ranked on ranked.revenue_rank = percentiles.customer_count

)

select * from final

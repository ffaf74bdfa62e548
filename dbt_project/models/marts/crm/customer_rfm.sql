-- Recency, frequency and monetary value of every customer with an order before the
-- as-of date (var rfm_as_of_date; default: the day after the latest order date),
-- scored in quintiles and named with the segment map in seed rfm_segments.
--
-- Scores: ntile(5) over the buying customers ordered from worst to best, so 5 is the
-- best fifth (most recent, most orders, most revenue). Customers with the same value
-- share the lowest score any of them got: equal behaviour gets an equal score and
-- the result does not depend on how ties are ordered.
{%- set as_of = var('rfm_as_of_date') %}

with

orders as (

    select * from {{ ref('fct_orders') }}

),

rfm_segments as (

    select * from {{ ref('rfm_segments') }}

),

as_of as (

    {%- if as_of %}
    select cast('{{ as_of }}' as date) as as_of_date
    {%- else %}
    select max(order_date) + 1 as as_of_date from orders
    {%- endif %}

),

customer_orders as (

    select
        orders.customer_id,
        as_of.as_of_date,
        as_of.as_of_date - max(orders.order_date) as recency_days,
        count(*) as frequency,
        cast(sum(orders.amount) as numeric(18, 2)) as monetary
    from orders
    cross join as_of
    where orders.customer_id is not null
        and orders.order_date < as_of.as_of_date
    group by orders.customer_id, as_of.as_of_date

),

quintiles as (

    select
        *,
        ntile(5) over (order by recency_days desc, customer_id) as recency_ntile,
        ntile(5) over (order by frequency, customer_id) as frequency_ntile,
        ntile(5) over (order by monetary, customer_id) as monetary_ntile
    from customer_orders

),

scored as (

    select
        *,
        cast(min(recency_ntile) over (partition by recency_days) as integer) as recency_score,
        cast(min(frequency_ntile) over (partition by frequency) as integer) as frequency_score,
        cast(min(monetary_ntile) over (partition by monetary) as integer) as monetary_score
    from quintiles

),

final as (

    select
        scored.customer_id,
        scored.as_of_date,
        scored.recency_days,
        scored.frequency,
        scored.monetary,
        scored.recency_score,
        scored.frequency_score,
        scored.monetary_score,
        concat(scored.recency_score, scored.frequency_score, scored.monetary_score) as rfm_score,
        rfm_segments.rfm_segment
    from scored
    left join rfm_segments
        on rfm_segments.recency_score = scored.recency_score
        and rfm_segments.frequency_score = scored.frequency_score

)

select * from final

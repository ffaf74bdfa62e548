-- Recency, frequency and monetary value of every customer with an order before the
-- as-of date, scored in quintiles and named with the segment map in seed rfm_segments.
-- This is the project's one RFM definition: customer_360 carries it next to the scores.
--
-- The as-of date: var rfm_as_of_date if set; else the warehouse's as-of (the latest end of
-- any interval a run registered, the cut-off the ML step scores at), so a run's RFM and its
-- scores describe the same day; else (dbt run outside the pipeline) the day after the
-- latest order date.
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

run_intervals as (

    select * from {{ ref('stg_ops__run_intervals') }}

),

rfm_segments as (

    select * from {{ ref('rfm_segments') }}

),

as_of as (

    {%- if as_of %}
    select cast('{{ as_of }}' as date) as as_of_date
    {%- else %}
    select coalesce(
        (select cast(max(interval_end) at time zone 'UTC' as date) from run_intervals),
        (select max(order_date) + 1 from orders)
    ) as as_of_date
    {%- endif %}

),

customer_orders as (

    select
        order_summary.customer_id,
        as_of.as_of_date,
        as_of.as_of_date - order_summary.last_order_date as recency_days,
        order_summary.order_count as frequency,
        cast(order_summary.total_revenue as numeric(18, 2)) as monetary
    from ({{ customer_order_summary('orders', before_date='(select as_of_date from as_of)') }}) as order_summary
    cross join as_of

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

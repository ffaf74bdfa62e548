-- One row per channel that appears in fct_touchpoints (which holds the order
-- channels of fct_orders too), with the readable name from the channel_names seed.
-- A channel missing from the seed still gets a row (its code, capitalised) and a
-- warning test asks for a name.
with

touchpoints as (

    select * from {{ ref('fct_touchpoints') }}

),

channel_names as (

    select * from {{ ref('channel_names') }}

),

channel_usage as (

    select
        channel,
        count(*) as touchpoint_count,
        count(*) filter (where touchpoint_type = 'purchase') as order_count,
        min(occurred_at) as first_touchpoint_at,
        max(occurred_at) as last_touchpoint_at
    from touchpoints
    where channel is not null
    group by channel

),

final as (

    select
        channel_usage.channel,
        coalesce(channel_names.channel_name, initcap(channel_usage.channel)) as channel_name,
        channel_names.channel_description,
        channel_usage.touchpoint_count,
        channel_usage.order_count,
        channel_usage.order_count > 0 as is_sales_channel,
        channel_usage.first_touchpoint_at,
        channel_usage.last_touchpoint_at
    from channel_usage
    left join channel_names on channel_names.channel = channel_usage.channel

)

select * from final

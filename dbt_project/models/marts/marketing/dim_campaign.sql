-- One row per e-mail campaign seen in the campaign platform's events.
-- campaign_name: the name on the campaign's latest event (platforms let marketers
-- rename a campaign). Sends and responses use the event types in the vars
-- campaign_send_event_types and campaign_response_event_types, as customer_360 does.
{%- set send_types = var('campaign_send_event_types') %}
{%- set response_types = var('campaign_response_event_types') %}

with

campaign_events as (

    select * from {{ ref('stg_email__campaign_events') }}

),

campaign_responses as (

    select * from {{ ref('fct_campaign_responses') }}

),

named as (

    select
        campaign_id,
        campaign_name,
        row_number() over (
            partition by campaign_id
            order by occurred_at desc, event_id desc
        ) as recency_rank
    from campaign_events
    where campaign_name is not null

),

event_summary as (

    select
        campaign_id,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at,
        count(*) filter (where event_type in ('{{ send_types | join("', '") }}')) as sends,
        count(*) filter (where event_type = 'open') as opens,
        count(*) filter (where event_type = 'click') as clicks,
        count(*) filter (where event_type = 'unsubscribe') as unsubscribes,
        count(*) filter (where event_type = 'bounce') as bounces
    from campaign_events
    where campaign_id is not null
    group by campaign_id

),

recipient_summary as (

    select
        campaign_id,
        count(*) filter (where is_sent) as recipients_sent,
        count(*) filter (where is_sent and has_responded) as recipients_responded
    from campaign_responses
    group by campaign_id

),

final as (

    select
        event_summary.campaign_id,
        {{ bi_text('named.campaign_name') }} as campaign_name,
        event_summary.sends,
        event_summary.opens,
        event_summary.clicks,
        event_summary.unsubscribes,
        event_summary.bounces,
        coalesce(recipient_summary.recipients_sent, 0) as recipients_sent,
        coalesce(recipient_summary.recipients_responded, 0) as recipients_responded,
        cast(
            recipient_summary.recipients_responded::numeric / nullif(recipient_summary.recipients_sent, 0)
            as numeric(5, 4)
        ) as response_rate,
        {{ reporting_date('event_summary.first_event_at') }} as first_event_date,
        {{ reporting_date('event_summary.last_event_at') }} as last_event_date,
        event_summary.first_event_at,
        event_summary.last_event_at
    from event_summary
    left join named
        on named.campaign_id = event_summary.campaign_id
        and named.recency_rank = 1
    left join recipient_summary on recipient_summary.campaign_id = event_summary.campaign_id

)

select * from final

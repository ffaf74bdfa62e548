-- One row per campaign and recipient: was the e-mail sent, and did the recipient
-- open, click, respond, unsubscribe or bounce. A response is an event whose type is
-- in var campaign_response_event_types (default: click), as in customer_360.
-- The recipient is the normalised e-mail address, the key identity resolution links
-- to a customer; events without a campaign or an address have no recipient and are left out.
-- The mart names the recipient by the address's pseudonymised key (identity.record_pseudonyms,
-- a keyed hash whose secret never reaches dbt), never by the address or a bare hash of it.
-- The row key is the campaign and the recipient's first event: two addresses that identity
-- resolution repairs to one (a typo) share a pseudonymised key but stay two recipients here.
{%- set send_types = var('campaign_send_event_types') %}
{%- set response_types = var('campaign_response_event_types') %}

with

campaign_events as (

    select * from {{ ref('stg_email__campaign_events') }}

),

customer_source_xref as (

    select * from {{ ref('stg_identity__customer_source_xref') }}

),

record_pseudonyms as (

    select * from {{ ref('stg_identity__record_pseudonyms') }}

),

recipient_events as (

    select
        campaign_id,
        email_normalised,
        count(*) filter (where event_type in ('{{ send_types | join("', '") }}')) as send_count,
        min(occurred_at) filter (where event_type in ('{{ send_types | join("', '") }}')) as sent_at,
        min(occurred_at) filter (where event_type in ('{{ response_types | join("', '") }}')) as first_response_at,
        bool_or(event_type = 'open') as has_opened,
        bool_or(event_type = 'click') as has_clicked,
        bool_or(event_type = 'unsubscribe') as has_unsubscribed,
        bool_or(event_type = 'bounce') as has_bounced,
        min(occurred_at) as first_event_at,
        min(event_id) as first_event_id
    from campaign_events
    where campaign_id is not null
        and email_normalised is not null
    group by campaign_id, email_normalised

),

final as (

    select
        {{ surrogate_key(['recipient_events.campaign_id', 'recipient_events.first_event_id']) }}
            as campaign_response_key,
        recipient_events.campaign_id,
        record_pseudonyms.email_key as recipient_email_key,
        customer_source_xref.customer_id,
        recipient_events.send_count,
        recipient_events.send_count > 0 as is_sent,
        recipient_events.first_response_at is not null as has_responded,
        recipient_events.has_opened,
        recipient_events.has_clicked,
        recipient_events.has_unsubscribed,
        recipient_events.has_bounced,
        {{ reporting_date('recipient_events.sent_at') }} as sent_date,
        recipient_events.sent_at,
        recipient_events.first_response_at,
        recipient_events.first_event_at
    from recipient_events
    left join customer_source_xref
        on customer_source_xref.source = 'email_campaign_events'
        and customer_source_xref.source_record_key = recipient_events.email_normalised
    left join record_pseudonyms
        on record_pseudonyms.source = 'email_campaign_events'
        and record_pseudonyms.source_record_key = recipient_events.email_normalised

)

select * from final

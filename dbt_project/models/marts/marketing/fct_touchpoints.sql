-- One row per interaction from every source, linked to the resolved customer
-- when the interaction is identified (anonymous ones keep a null customer_id).
-- Incremental: new, re-delivered and re-linked rows only (macro incremental_changes).
{{ config(materialized='incremental', unique_key='touchpoint_key', incremental_strategy='merge',
          on_schema_change='sync_all_columns') }}

with

orders as (

    select * from {{ ref('fct_orders') }}

),

web_events as (

    select * from {{ ref('stg_web__events') }}

),

call_center_contacts as (

    select * from {{ ref('stg_call_center__contacts') }}

),

email_campaign_events as (

    select * from {{ ref('stg_email__campaign_events') }}

),

survey_responses as (

    select * from {{ ref('stg_surveys__responses') }}

),

product_registrations as (

    select * from {{ ref('stg_product__registrations') }}

),

customer_source_xref as (

    select * from {{ ref('stg_identity__customer_source_xref') }}

),

order_touchpoints as (

    select
        source,
        source_order_id as source_record_id,
        customer_id,
        channel,
        'purchase' as touchpoint_type,
        ordered_at as occurred_at,
        _loaded_at
    from orders

),

-- the other sources: (source, record id, key into the xref, channel, type, time)
identified_by_key as (

    select
        'web_events' as source,
        event_id as source_record_id,
        web_account_id as source_record_key,
        'web' as channel,
        'web_' || event_type as touchpoint_type,
        occurred_at,
        _loaded_at
    from web_events

    union all

    select
        'call_center_contacts',
        contact_id,
        contact_id,
        'phone',
        case when is_complaint then 'complaint' else 'service_call' end,
        contacted_at,
        _loaded_at
    from call_center_contacts

    union all

    select
        'email_campaign_events',
        event_id,
        email_normalised,
        'email',
        'email_' || event_type,
        occurred_at,
        _loaded_at
    from email_campaign_events

    union all

    select
        'surveys',
        response_id,
        response_id,
        'survey',
        'survey_response',
        responded_at,
        _loaded_at
    from survey_responses

    union all

    select
        'product_registrations',
        registration_id,
        registration_id,
        'registration',
        'product_registration',
        registered_at,
        _loaded_at
    from product_registrations

),

other_touchpoints as (

    select
        identified_by_key.source,
        identified_by_key.source_record_id,
        customer_source_xref.customer_id,
        identified_by_key.channel,
        identified_by_key.touchpoint_type,
        identified_by_key.occurred_at,
        identified_by_key._loaded_at
    from identified_by_key
    left join customer_source_xref
        on customer_source_xref.source = identified_by_key.source
        and customer_source_xref.source_record_key = identified_by_key.source_record_key

),

unioned as (

    select * from order_touchpoints
    union all
    select * from other_touchpoints

),

keyed as (

    select
        {{ surrogate_key(['source', 'source_record_id']) }} as touchpoint_key,
        source,
        source_record_id,
        customer_id,
        channel,
        touchpoint_type,
        occurred_at,
        _loaded_at
    from unioned

),

final as (

    select keyed.*
    from keyed
    {{ incremental_changes('keyed', 'touchpoint_key') }}

)

select * from final

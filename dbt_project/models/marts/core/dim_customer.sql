-- One row per resolved customer with a golden record.
-- Survivorship, per attribute: the first non-null value taken from
--   1. CRM records (the latest version of each account; most recently updated account first),
--   2. then other sources' records, most recently seen first
-- (ties broken by source and record key, so the result is deterministic).
{%- set survivorship_order = "source_priority, last_seen_at desc nulls last, source, source_record_key" %}
{%- set golden_attributes = {
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email_normalised",
    "phone": "phone_normalised",
    "city": "city",
    "postcode": "postcode_normalised",
    "country": "country",
    "date_of_birth": "date_of_birth",
} %}

with

customer_source_xref as (

    select * from {{ source('identity', 'customer_source_xref') }}

),

source_records as (

    select * from {{ ref('int_source_records') }}

),

customer_records as (

    select
        customer_source_xref.customer_id,
        customer_source_xref.source,
        customer_source_xref.source_record_key,
        case when customer_source_xref.source = 'crm_accounts' then 0 else 1 end as source_priority,
        source_records.first_name,
        source_records.last_name,
        source_records.email_normalised,
        source_records.phone_normalised,
        source_records.city,
        source_records.postcode_normalised,
        source_records.country,
        source_records.date_of_birth,
        source_records.first_seen_at,
        source_records.last_seen_at
    from customer_source_xref
    left join source_records
        on source_records.source = customer_source_xref.source
        and source_records.source_record_key = customer_source_xref.source_record_key

),

golden_records as (

    select
        customer_id,
        {%- for attribute, column in golden_attributes.items() %}
        (array_agg({{ column }} order by {{ survivorship_order }})
            filter (where {{ column }} is not null))[1] as {{ attribute }},
        {%- endfor %}
        string_agg(distinct source, ',' order by source) as source_systems,
        count(*) as source_record_count,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        (array_agg(source order by {{ survivorship_order }}))[1] as golden_source
    from customer_records
    group by customer_id

),

final as (

    select * from golden_records

)

select * from final

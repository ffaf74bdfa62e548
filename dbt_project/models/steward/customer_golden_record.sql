-- One row per resolved customer with a golden record (for stewards; BI reads marts.dim_customer).
-- Survivorship, one documented rule per attribute (ties: source, then record key,
-- so the result is deterministic); each value keeps where it came from in
-- <attribute>_source and <attribute>_source_record_key.
--   most complete  first_name, last_name: a full name beats an initial, then the most trusted source, then the most recent
--   most recent    email: people change e-mail, the latest one seen is the one that works
--   most trusted   phone, city, postcode, country, date_of_birth: the CRM first (what the customer
--                  keeps up to date; web delivery addresses can be gifts), then the most recent
-- Source trust: crm_accounts, web_orders, product_registrations, surveys, call_center_contacts, others.
{%- set most_trusted = "source_trust, last_seen_at desc nulls last, source, source_record_key" %}
{%- set most_recent = "last_seen_at desc nulls last, source_trust, source, source_record_key" %}
{%- set golden_attributes = {
    "first_name": ("first_name", "length(first_name) > 1 desc, " ~ most_trusted),
    "last_name": ("last_name", "length(last_name) > 1 desc, " ~ most_trusted),
    "email": ("email_normalised", most_recent),
    "phone": ("phone_normalised", most_trusted),
    "city": ("city", most_trusted),
    "postcode": ("postcode_normalised", most_trusted),
    "country": ("country", most_trusted),
    "date_of_birth": ("date_of_birth", most_trusted),
} %}

with

customer_source_xref as (

    select * from {{ ref('stg_identity__customer_source_xref') }}

),

source_records as (

    select * from {{ ref('int_source_records') }}

),

customer_records as (

    select
        customer_source_xref.customer_id,
        customer_source_xref.source,
        customer_source_xref.source_record_key,
        case customer_source_xref.source
            when 'crm_accounts' then 1
            when 'web_orders' then 2
            when 'product_registrations' then 3
            when 'surveys' then 4
            when 'call_center_contacts' then 5
            else 6
        end as source_trust,
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
        {%- for attribute, (column, order_by) in golden_attributes.items() %}
        (array_agg({{ column }} order by {{ order_by }})
            filter (where {{ column }} is not null))[1] as {{ attribute }},
        (array_agg(source order by {{ order_by }})
            filter (where {{ column }} is not null))[1] as {{ attribute }}_source,
        (array_agg(source_record_key order by {{ order_by }})
            filter (where {{ column }} is not null))[1] as {{ attribute }}_source_record_key,
        {%- endfor %}
        string_agg(distinct source, ',' order by source) as source_systems,
        count(*) as source_record_count,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        (array_agg(source order by {{ most_trusted }}))[1] as golden_source
    from customer_records
    group by customer_id

),

final as (

    select * from golden_records

)

select * from final

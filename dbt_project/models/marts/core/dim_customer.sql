-- One row per resolved customer: the golden record as BI users see it. Personal
-- columns follow var bi_personal_columns (macro bi_personal); where each value
-- came from stays with the stewards (steward.customer_golden_record).
with

golden_records as (

    select * from {{ ref('customer_golden_record') }}

),

final as (

    select
        customer_id,
        {{ bi_personal('first_name') }},
        {{ bi_personal('last_name') }},
        {{ bi_personal('email') }},
        {{ bi_personal('phone') }},
        {{ bi_personal('city') }},
        {{ bi_personal('postcode') }},
        {{ bi_personal('country') }},
        {{ bi_personal('date_of_birth') }},
        source_systems,
        source_record_count,
        first_seen_at,
        last_seen_at,
        golden_source
    from golden_records

)

select * from final

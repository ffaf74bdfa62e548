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
        {{ bi_personal_golden_columns() }}
        source_systems,
        source_record_count,
        first_seen_at,
        last_seen_at,
        golden_source
    from golden_records

)

select * from final

-- The golden record as it was: one row per version of a customer's attributes,
-- personal columns limited like dim_customer's (macro bi_personal).
-- What did customer C look like on day D:
--   where customer_id = C and valid_from <= D and (valid_to > D or valid_to is null)
with

snapshot as (

    select * from {{ ref('customer_history_snapshot') }}

),

final as (

    select
        customer_id,
        {{ bi_personal_golden_columns() }}
        dbt_valid_from as valid_from,
        dbt_valid_to as valid_to,
        dbt_valid_to is null as is_current
    from snapshot

)

select * from final

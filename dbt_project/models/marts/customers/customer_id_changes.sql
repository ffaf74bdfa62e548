-- How BI follows a customer across identity changes: when two customers merge the
-- old id points to the surviving one; when one splits, to the id of the part that left.
with

id_history as (

    select * from {{ ref('stg_identity__customer_id_history') }}

),

final as (

    select
        old_customer_id,
        new_customer_id,
        reason,
        run_id,
        changed_at
    from id_history

)

select * from final

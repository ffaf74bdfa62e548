-- One row per resolved customer: the golden record as BI users see it. Personal
-- columns follow var bi_personal_columns (macro bi_personal); where each value
-- came from stays with the stewards (steward.customer_golden_record).
-- email_key and phone_key are pseudonymised keys of the golden e-mail and phone (a keyed
-- hash computed by the identity step into identity.record_pseudonyms; the secret never
-- reaches dbt): the same person, the same key, without the person.
with

golden_records as (

    select * from {{ ref('customer_golden_record') }}

),

record_pseudonyms as (

    select * from {{ ref('stg_identity__record_pseudonyms') }}

),

final as (

    select
        golden_records.customer_id,
        email_pseudonyms.email_key,
        phone_pseudonyms.phone_key,
        {{ bi_personal_golden_columns() }}
        source_systems,
        source_record_count,
        first_seen_at,
        last_seen_at,
        golden_source
    from golden_records
    left join record_pseudonyms as email_pseudonyms
        on email_pseudonyms.source = golden_records.email_source
        and email_pseudonyms.source_record_key = golden_records.email_source_record_key
    left join record_pseudonyms as phone_pseudonyms
        on phone_pseudonyms.source = golden_records.phone_source
        and phone_pseudonyms.source_record_key = golden_records.phone_source_record_key

)

select * from final

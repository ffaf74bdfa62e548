-- The identity resolution input: one row per (source, source_record_key) across
-- all sources, with the matching keys. Sources whose key is a person-level id
-- seen on many rows (loyalty_id, web_account_id, e-mail) are collapsed to one
-- record per id, with the attributes of its latest row. first_name_canonical
-- maps common nicknames to one formal name (seed name_nicknames) for matching.
-- A malformed e-mail ('a@@b.com', 'ab.com', 'a@', 'a@b') is replaced by the one valid
-- e-mail in the data it can be a typo of (is_email_repaired); with none or several, it stays.
with

name_nicknames as (

    select * from {{ ref('name_nicknames') }}

),

crm_accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

pos_transactions as (

    select * from {{ ref('stg_pos__transactions') }}

),

web_orders as (

    select * from {{ ref('stg_web__orders') }}

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

crm_records as (

    select
        'crm_accounts' as source,
        account_id as source_record_key,
        account_id,
        loyalty_id,
        cast(null as text) as web_account_id,
        email_normalised,
        nullif(original_email_normalised, email_normalised) as previous_email_normalised,
        phone_normalised,
        first_name_normalised,
        last_name_normalised,
        postcode_normalised,
        date_of_birth_normalised as date_of_birth,
        first_name,
        last_name,
        city,
        country,
        created_at as first_seen_at,
        updated_at as last_seen_at
    from crm_accounts

),

pos_records as (

    select
        'pos_transactions' as source,
        loyalty_id as source_record_key,
        cast(null as text) as account_id,
        loyalty_id,
        cast(null as text) as web_account_id,
        cast(null as text) as email_normalised,
        cast(null as text) as previous_email_normalised,
        cast(null as text) as phone_normalised,
        cast(null as text) as first_name_normalised,
        cast(null as text) as last_name_normalised,
        cast(null as text) as postcode_normalised,
        cast(null as date) as date_of_birth,
        cast(null as text) as first_name,
        cast(null as text) as last_name,
        cast(null as text) as city,
        cast(null as text) as country,
        min(transaction_at) as first_seen_at,
        max(transaction_at) as last_seen_at
    from pos_transactions
    where loyalty_id is not null
    group by loyalty_id

),

web_orders_ranked as (

    select
        *,
        row_number() over (
            partition by web_account_id
            order by ordered_at desc, order_id desc
        ) as recency_rank,
        min(ordered_at) over (partition by web_account_id) as first_ordered_at
    from web_orders

),

web_order_records as (

    select
        'web_orders' as source,
        web_account_id as source_record_key,
        cast(null as text) as account_id,
        cast(null as text) as loyalty_id,
        web_account_id,
        email_normalised,
        cast(null as text) as previous_email_normalised,
        phone_normalised,
        first_name_normalised,
        last_name_normalised,
        postcode_normalised,
        cast(null as date) as date_of_birth,
        first_name,
        last_name,
        shipping_city as city,
        country,
        first_ordered_at as first_seen_at,
        ordered_at as last_seen_at
    from web_orders_ranked
    where recency_rank = 1

),

web_event_records as (

    select
        'web_events' as source,
        web_account_id as source_record_key,
        cast(null as text) as account_id,
        cast(null as text) as loyalty_id,
        web_account_id,
        cast(null as text) as email_normalised,
        cast(null as text) as previous_email_normalised,
        cast(null as text) as phone_normalised,
        cast(null as text) as first_name_normalised,
        cast(null as text) as last_name_normalised,
        cast(null as text) as postcode_normalised,
        cast(null as date) as date_of_birth,
        cast(null as text) as first_name,
        cast(null as text) as last_name,
        cast(null as text) as city,
        cast(null as text) as country,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at
    from web_events
    where web_account_id is not null
    group by web_account_id

),

call_center_records as (

    select
        'call_center_contacts' as source,
        contact_id as source_record_key,
        account_id,
        cast(null as text) as loyalty_id,
        cast(null as text) as web_account_id,
        cast(null as text) as email_normalised,
        cast(null as text) as previous_email_normalised,
        phone_normalised,
        first_name_normalised,
        last_name_normalised,
        postcode_normalised,
        cast(null as date) as date_of_birth,
        initcap(first_name_normalised) as first_name,
        initcap(last_name_normalised) as last_name,
        cast(null as text) as city,
        cast(null as text) as country,
        contacted_at as first_seen_at,
        contacted_at as last_seen_at
    from call_center_contacts

),

email_records as (

    select
        'email_campaign_events' as source,
        email_normalised as source_record_key,
        cast(null as text) as account_id,
        cast(null as text) as loyalty_id,
        cast(null as text) as web_account_id,
        email_normalised,
        cast(null as text) as previous_email_normalised,
        cast(null as text) as phone_normalised,
        cast(null as text) as first_name_normalised,
        cast(null as text) as last_name_normalised,
        cast(null as text) as postcode_normalised,
        cast(null as date) as date_of_birth,
        cast(null as text) as first_name,
        cast(null as text) as last_name,
        cast(null as text) as city,
        cast(null as text) as country,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at
    from email_campaign_events
    where email_normalised is not null
    group by email_normalised

),

survey_records as (

    select
        'surveys' as source,
        response_id as source_record_key,
        cast(null as text) as account_id,
        cast(null as text) as loyalty_id,
        cast(null as text) as web_account_id,
        email_normalised,
        cast(null as text) as previous_email_normalised,
        cast(null as text) as phone_normalised,
        first_name_normalised,
        last_name_normalised,
        cast(null as text) as postcode_normalised,
        cast(null as date) as date_of_birth,
        initcap(first_name_normalised) as first_name,
        initcap(last_name_normalised) as last_name,
        cast(null as text) as city,
        cast(null as text) as country,
        responded_at as first_seen_at,
        responded_at as last_seen_at
    from survey_responses

),

registration_records as (

    select
        'product_registrations' as source,
        registration_id as source_record_key,
        cast(null as text) as account_id,
        cast(null as text) as loyalty_id,
        cast(null as text) as web_account_id,
        email_normalised,
        cast(null as text) as previous_email_normalised,
        phone_normalised,
        first_name_normalised,
        last_name_normalised,
        postcode_normalised,
        cast(null as date) as date_of_birth,
        first_name,
        last_name,
        cast(null as text) as city,
        cast(null as text) as country,
        registered_at as first_seen_at,
        registered_at as last_seen_at
    from product_registrations

),

unioned as (

    select * from crm_records
    union all
    select * from pos_records
    union all
    select * from web_order_records
    union all
    select * from web_event_records
    union all
    select * from call_center_records
    union all
    select * from email_records
    union all
    select * from survey_records
    union all
    select * from registration_records

),

valid_emails as (

    select distinct email_normalised as email
    from unioned
    where {{ is_valid_email('email_normalised') }}

),

-- The keys a valid e-mail leaves behind under each kind of typo.
valid_email_keys as (

    select email, 'doubled_at:' || email as repair_key from valid_emails
    union all
    select email, 'missing_at:' || replace(email, '@', '') from valid_emails
    union all
    select email, 'no_domain:' || split_part(email, '@', 1) from valid_emails
    union all
    select email, 'no_tld:' || split_part(email, '@', 1) || '@' || split_part(split_part(email, '@', 2), '.', 1)
    from valid_emails

),

malformed_emails as (

    select
        email_normalised as malformed_email,
        case
            when email_normalised like '%@@%' then 'doubled_at:' || regexp_replace(email_normalised, '@+', '@', 'g')
            when position('@' in email_normalised) = 0 then 'missing_at:' || email_normalised
            when email_normalised like '%@' then 'no_domain:' || rtrim(email_normalised, '@')
            else 'no_tld:' || email_normalised
        end as repair_key
    from unioned
    where email_normalised is not null and not {{ is_valid_email('email_normalised') }}
    group by email_normalised

),

email_repairs as (

    select
        malformed_emails.malformed_email,
        min(valid_email_keys.email) as repaired_email
    from malformed_emails
    inner join valid_email_keys
        on valid_email_keys.repair_key = malformed_emails.repair_key
    group by malformed_emails.malformed_email
    having count(distinct valid_email_keys.email) = 1

),

final as (

    select
        unioned.source,
        unioned.source_record_key,
        unioned.account_id,
        unioned.loyalty_id,
        unioned.web_account_id,
        coalesce(email_repairs.repaired_email, unioned.email_normalised) as email_normalised,
        unioned.previous_email_normalised,
        unioned.phone_normalised,
        unioned.first_name_normalised,
        unioned.last_name_normalised,
        unioned.postcode_normalised,
        unioned.date_of_birth,
        unioned.first_name,
        unioned.last_name,
        unioned.city,
        unioned.country,
        unioned.first_seen_at,
        unioned.last_seen_at,
        coalesce(name_nicknames.canonical_name, unioned.first_name_normalised) as first_name_canonical,
        email_repairs.repaired_email is not null as is_email_repaired
    from unioned
    left join name_nicknames
        on name_nicknames.nickname = unioned.first_name_normalised
    left join email_repairs
        on email_repairs.malformed_email = unioned.email_normalised

)

select * from final

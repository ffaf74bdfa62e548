-- One row per CRM account: the latest version (by updated_at, then the latest load),
-- with the e-mail of its first version (people change e-mail; old touch points keep the old one).
with

source as (

    select * from {{ source('raw', 'crm_accounts') }}

),

latest_version as (

    select
        *,
        row_number() over (
            partition by account_id
            order by updated_at desc, _loaded_at desc, _file_name desc, _line_number desc
        ) as version_rank,
        first_value(email) over (
            partition by account_id
            order by updated_at, _loaded_at, _file_name, _line_number
        ) as original_email
    from source

),

renamed as (

    select
        account_id,
        loyalty_id,
        title,
        first_name,
        last_name,
        email,
        phone,
        date_of_birth,
        street_address,
        city,
        postcode,
        country,
        created_at,
        updated_at,

        {{ normalise_email('email') }} as email_normalised,
        {{ normalise_email('original_email') }} as original_email_normalised,
        {{ normalise_phone('phone') }} as phone_normalised,
        {{ normalise_name('first_name') }} as first_name_normalised,
        {{ normalise_name('last_name') }} as last_name_normalised,
        {{ normalise_postcode('postcode') }} as postcode_normalised,
        {{ normalise_street('street_address') }} as street_normalised,
        {{ normalise_date_of_birth('date_of_birth', 'created_at') }} as date_of_birth_normalised,

        _loaded_at,
        _file_name

    from latest_version
    where version_rank = 1

)

select * from renamed

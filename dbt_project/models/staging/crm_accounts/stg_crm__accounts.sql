-- One row per CRM account: the latest version (by updated_at, then the latest load).
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
        ) as version_rank
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
        {{ normalise_phone('phone') }} as phone_normalised,
        {{ normalise_name('first_name') }} as first_name_normalised,
        {{ normalise_name('last_name') }} as last_name_normalised,
        {{ normalise_postcode('postcode') }} as postcode_normalised,

        _loaded_at,
        _file_name

    from latest_version
    where version_rank = 1

)

select * from renamed

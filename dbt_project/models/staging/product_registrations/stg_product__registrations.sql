-- One row per warranty registration; re-delivered rows keep their first load.
with

source as (

    select * from {{ source('raw', 'product_registrations') }}

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by registration_id
            order by _loaded_at, _file_name, _line_number
        ) as delivery_rank
    from source

),

renamed as (

    select
        registration_id,
        product_sku,
        serial_number,
        first_name,
        last_name,
        email,
        phone,
        postcode,
        purchase_date,
        registered_at,

        {{ normalise_email('email') }} as email_normalised,
        {{ normalise_phone('phone') }} as phone_normalised,
        {{ normalise_name('first_name') }} as first_name_normalised,
        {{ normalise_name('last_name') }} as last_name_normalised,
        {{ normalise_postcode('postcode') }} as postcode_normalised,

        _loaded_at,
        _file_name

    from deduplicated
    where delivery_rank = 1

)

select * from renamed

-- One row per web order; re-delivered rows keep their first load.
with

source as (

    select * from {{ source('raw', 'web_orders') }}

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by order_id
            order by _loaded_at, _file_name, _line_number
        ) as delivery_rank
    from source

),

renamed as (

    select
        order_id,
        web_account_id,
        email,
        first_name,
        last_name,
        phone,
        shipping_street,
        shipping_city,
        shipping_postcode,
        country,
        ordered_at,
        amount,
        upper(currency) as currency,
        items,

        {{ normalise_email('email') }} as email_normalised,
        {{ normalise_phone('phone') }} as phone_normalised,
        {{ normalise_name('first_name') }} as first_name_normalised,
        {{ normalise_name('last_name') }} as last_name_normalised,
        {{ normalise_postcode('shipping_postcode') }} as postcode_normalised,
        {{ normalise_street('shipping_street') }} as street_normalised,

        _loaded_at,
        _file_name

    from deduplicated
    where delivery_rank = 1

)

select * from renamed

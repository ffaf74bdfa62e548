-- One row per e-mail platform event; re-delivered rows keep their first load.
with

source as (

    select * from {{ source('raw', 'email_campaign_events') }}

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by event_id
            order by _loaded_at, _file_name, _line_number
        ) as delivery_rank
    from source

),

renamed as (

    select
        event_id,
        campaign_id,
        campaign_name,
        email,
        lower(event_type) as event_type,
        occurred_at,

        {{ normalise_email('email') }} as email_normalised,

        _loaded_at,
        _file_name

    from deduplicated
    where delivery_rank = 1

)

select * from renamed

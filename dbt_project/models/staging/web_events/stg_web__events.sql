-- One row per click-stream event; re-delivered rows keep their first load.
with

source as (

    select * from {{ source('raw', 'web_events') }}

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
        session_id,
        nullif(btrim(web_account_id), '') as web_account_id,
        lower(event_type) as event_type,
        page_url,
        product_sku,
        occurred_at,

        _loaded_at,
        _file_name

    from deduplicated
    where delivery_rank = 1

)

select * from renamed

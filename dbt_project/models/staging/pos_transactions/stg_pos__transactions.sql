-- One row per till transaction; re-delivered rows keep their first load.
with

source as (

    select * from {{ source('raw', 'pos_transactions') }}

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by transaction_id
            order by _loaded_at, _file_name, _line_number
        ) as delivery_rank
    from source

),

renamed as (

    select
        transaction_id,
        nullif(btrim(loyalty_id), '') as loyalty_id,
        store_id,
        transaction_at,
        amount,
        upper(currency) as currency,
        items,

        _loaded_at,
        _file_name

    from deduplicated
    where delivery_rank = 1

)

select * from renamed

-- One row per call; re-delivered rows keep their first load.
-- caller_name is free text typed by the agent ('Mr J. Smith', 'SMITH, John',
-- 'john smith'): it is split into first and last name on a best-effort basis.
with

source as (

    select * from {{ source('raw', 'call_center_contacts') }}

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by contact_id
            order by _loaded_at, _file_name, _line_number
        ) as delivery_rank
    from source

),

renamed as (

    select
        contact_id,
        nullif(btrim(account_id), '') as account_id,
        caller_name,
        phone,
        postcode,
        lower(contact_reason) as contact_reason,
        is_complaint,
        is_resolved_first_time,
        handling_seconds,
        contacted_at,

        {{ normalise_phone('phone') }} as phone_normalised,
        {{ full_name_first_part('caller_name') }} as first_name_normalised,
        {{ full_name_last_part('caller_name') }} as last_name_normalised,
        {{ normalise_postcode('postcode') }} as postcode_normalised,

        _loaded_at,
        _file_name

    from deduplicated
    where delivery_rank = 1

)

select * from renamed

-- One row per survey response; re-delivered rows keep their first load.
with

source as (

    select * from {{ source('raw', 'surveys') }}

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by response_id
            order by _loaded_at, _file_name, _line_number
        ) as delivery_rank
    from source

),

renamed as (

    select
        response_id,
        email,
        respondent_name,
        satisfaction_score,
        recommend_score,
        comment,
        responded_at,

        {{ normalise_email('email') }} as email_normalised,
        {{ full_name_first_part('respondent_name') }} as first_name_normalised,
        {{ full_name_last_part('respondent_name') }} as last_name_normalised,

        _loaded_at,
        _file_name

    from deduplicated
    where delivery_rank = 1

)

select * from renamed

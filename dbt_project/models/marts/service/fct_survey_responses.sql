-- One row per survey response, linked to the resolved customer. The free-text
-- comment is personal data and stays out of the marts; has_comment says one was left.
-- NPS groups follow the usual cut of the 0-10 recommend score: 9-10 promoter,
-- 7-8 passive, 0-6 detractor.
with

survey_responses as (

    select * from {{ ref('stg_surveys__responses') }}

),

customer_source_xref as (

    select * from {{ ref('stg_identity__customer_source_xref') }}

),

final as (

    select
        {{ surrogate_key(["'surveys'", 'survey_responses.response_id']) }} as survey_response_key,
        survey_responses.response_id,
        customer_source_xref.customer_id,
        case
            when survey_responses.recommend_score between 9 and 10 then 'promoter'
            when survey_responses.recommend_score between 7 and 8 then 'passive'
            when survey_responses.recommend_score between 0 and 6 then 'detractor'
        end as nps_group,
        survey_responses.satisfaction_score,
        survey_responses.recommend_score,
        nullif(btrim(survey_responses.comment), '') is not null as has_comment,
        {{ reporting_date('survey_responses.responded_at') }} as response_date,
        survey_responses.responded_at
    from survey_responses
    left join customer_source_xref
        on customer_source_xref.source = 'surveys'
        and customer_source_xref.source_record_key = survey_responses.response_id

)

select * from final

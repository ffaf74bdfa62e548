-- The scores BI users read: one row per customer scored at the latest cutoff_date
-- in ml.customer_scores, from the latest model version run for that cutoff.
with

scores as (

    select * from {{ ref('stg_ml__customer_scores') }}

),

latest_cutoff as (

    select max(cutoff_date) as cutoff_date from scores

),

ranked as (

    select
        scores.*,
        row_number() over (
            partition by scores.customer_id
            order by scores.scored_at desc, scores.model_version desc
        ) as recency_rank
    from scores
    inner join latest_cutoff on latest_cutoff.cutoff_date = scores.cutoff_date

),

final as (

    select
        customer_id,
        model_version,
        churn_model_version,
        cluster_name,
        cluster_id,
        horizon_days,
        churn_probability,
        expected_purchases,
        expected_revenue,
        p_alive,
        clv,
        cutoff_date,
        scored_at
    from ranked
    where recency_rank = 1

)

select * from final

-- The latest result of every check, with how often it failed over the last 10 runs of its table.
with

results as (

    select * from {{ source('ops', 'dq_results') }}

),

ranked as (

    select
        *,
        row_number() over (partition by suite, check_name order by checked_at desc, run_id desc) as recency
    from results

),

final as (

    select
        suite,
        check_name,
        table_name,
        column_name,
        owner,
        severity,
        max(run_id) filter (where recency = 1) as latest_run_id,
        bool_and(passed) filter (where recency = 1) as passed,
        max(failing_count) filter (where recency = 1) as failing_count,
        -- only non-empty arrays: array_agg cannot accumulate an empty one ('{}' for a passed check)
        coalesce(
            (array_agg(failing_examples) filter (where recency = 1 and cardinality(failing_examples) > 0))[1],
            '{}'::text[]
        ) as failing_examples,
        count(*) filter (where recency <= 10 and not passed) as failures_in_last_10_runs,
        max(checked_at) filter (where recency = 1) as checked_at
    from ranked
    group by suite, check_name, table_name, column_name, owner, severity

)

select * from final

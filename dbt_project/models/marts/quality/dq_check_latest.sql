-- The latest result of every check, with how often it failed over the last 10 runs of its table.
with

results as (

    select * from {{ ref('stg_ops__dq_results') }}

),

ranked as (

    select
        *,
        row_number() over (partition by suite, check_name order by checked_at desc, run_id desc) as recency
    from results

),

grouped as (

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
        count(*) filter (where recency <= 10 and not passed) as failures_in_last_10_runs,
        max(checked_at) filter (where recency = 1) as checked_at
    from ranked
    group by suite, check_name, table_name, column_name, owner, severity

),

-- the examples of the latest result, joined rather than aggregated: array_agg of text[]
-- values makes a two-dimensional array, and cannot take an empty one
latest as (

    select suite, check_name, table_name, column_name, owner, severity, failing_examples
    from ranked
    where recency = 1

),

final as (

    select
        grouped.suite,
        grouped.check_name,
        grouped.table_name,
        grouped.column_name,
        grouped.owner,
        grouped.severity,
        grouped.latest_run_id,
        grouped.passed,
        grouped.failing_count,
        latest.failing_examples,
        grouped.failures_in_last_10_runs,
        grouped.checked_at
    from grouped
    left join latest
        on latest.suite = grouped.suite
        and latest.check_name = grouped.check_name
        and latest.table_name = grouped.table_name
        and latest.column_name is not distinct from grouped.column_name
        and latest.owner = grouped.owner
        and latest.severity = grouped.severity

)

select * from final

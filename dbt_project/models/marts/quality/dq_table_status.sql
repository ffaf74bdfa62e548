-- One row per checked table: the status of its latest checks, for stewards' BI charts.
with

results as (

    select * from {{ ref('stg_ops__dq_results') }}

),

manifest as (

    select * from {{ ref('stg_ops__file_manifest') }}

),

runs_per_table as (

    select
        table_name,
        run_id,
        max(checked_at) as checked_at
    from results
    group by table_name, run_id

),

latest_run as (

    select table_name, run_id, checked_at
    from (
        select
            *,
            row_number() over (partition by table_name order by checked_at desc, run_id desc) as recency
        from runs_per_table
    ) ranked
    where recency = 1

),

latest_checks as (

    select
        latest_run.table_name,
        latest_run.run_id,
        latest_run.checked_at,
        count(*) as checks,
        count(*) filter (where not results.passed and results.severity = 'error') as failed_error_checks,
        count(*) filter (where not results.passed and results.severity = 'warn') as failed_warn_checks,
        coalesce(sum(results.failing_count) filter (where not results.passed), 0) as failing_rows
    from latest_run
    inner join results
        on results.table_name = latest_run.table_name
        and results.run_id = latest_run.run_id
    group by latest_run.table_name, latest_run.run_id, latest_run.checked_at

),

latest_batch_loads as (

    -- for raw tables: what the source's latest load batch brought and set aside
    select
        'raw.' || source as table_name,
        sum(rows_loaded) as rows_loaded,
        sum(rows_quarantined) as rows_quarantined
    from (
        select
            *,
            dense_rank() over (partition by source order by batch_started_at desc, batch_id desc) as recency
        from (
            select *, min(loaded_at) over (partition by source, batch_id) as batch_started_at
            from manifest
        ) with_start
    ) ranked
    where recency = 1
    group by source

),

final as (

    select
        latest_checks.table_name,
        split_part(latest_checks.table_name, '.', 1) as layer,
        latest_checks.run_id as latest_run_id,
        case
            when latest_checks.failed_error_checks > 0 then 'failed'
            when latest_checks.failed_warn_checks > 0 then 'warnings'
            else 'passed'
        end as status,
        latest_checks.checks,
        latest_checks.failed_error_checks,
        latest_checks.failed_warn_checks,
        latest_checks.failing_rows,
        latest_batch_loads.rows_loaded as latest_batch_rows_loaded,
        latest_batch_loads.rows_quarantined as latest_batch_rows_quarantined,
        latest_checks.checked_at
    from latest_checks
    left join latest_batch_loads
        on latest_batch_loads.table_name = latest_checks.table_name

)

select * from final

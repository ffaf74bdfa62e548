-- The latest data-quality status of every checked table, failures first.
select
    table_name,
    layer,
    status,
    checks,
    failed_error_checks,
    failed_warn_checks,
    failing_rows,
    latest_batch_rows_loaded,
    latest_batch_rows_quarantined,
    latest_run_id,
    checked_at
from marts.dq_table_status
order by
    case status when 'failed' then 0 when 'warnings' then 1 else 2 end,
    table_name

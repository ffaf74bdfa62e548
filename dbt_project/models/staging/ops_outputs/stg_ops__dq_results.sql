-- Every data-quality check result, per run (written by the quality gates).
-- Staged as it is: a view, built with the dbt step that reads it, after the Python stage wrote the table.
select * from {{ source('ops', 'dq_results') }}

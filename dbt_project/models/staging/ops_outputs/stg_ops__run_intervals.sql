-- Every data interval a run registered (written by the orchestration's run coordination).
select * from {{ source('ops', 'run_intervals') }}

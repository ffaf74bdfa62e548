-- Record pairs waiting for a steward's decision.
-- Staged as it is: a view, built with the dbt step that reads it, after the Python stage wrote the table.
select * from {{ source('identity', 'review_queue') }}

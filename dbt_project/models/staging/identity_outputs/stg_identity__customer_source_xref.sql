-- Which customer each source record belongs to (written by identity resolution).
-- Staged as it is: a view, built with the dbt step that reads it, after the Python stage wrote the table.
select * from {{ source('identity', 'customer_source_xref') }}

-- Customer id merges and splits, as identity resolution logged them.
-- Staged as it is: a view, built with the dbt step that reads it, after the Python stage wrote the table.
select * from {{ source('identity', 'customer_id_history') }}

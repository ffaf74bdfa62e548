-- Keyed hashes of each source record's e-mail and phone (computed in Python; the secret never reaches dbt).
-- Staged as it is: a view, built with the dbt step that reads it, after the Python stage wrote the table.
select * from {{ source('identity', 'record_pseudonyms') }}

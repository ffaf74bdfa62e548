-- The latest score of each record pair the probabilistic model scored.
-- Staged as it is: a view, built with the dbt step that reads it, after the Python stage wrote the table.
select * from {{ source('identity', 'match_pairs') }}

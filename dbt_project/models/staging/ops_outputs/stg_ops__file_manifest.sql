-- Every landing file loaded, by checksum (written by ingestion).
-- Staged as it is: a view, built with the dbt step that reads it, after the Python stage wrote the table.
select * from {{ source('ops', 'file_manifest') }}

-- Churn, purchase, CLV and behaviour-cluster scores per customer, cut-off and model version (written by ML scoring).
-- Staged as it is: a view, built with the dbt step that reads it, after the Python stage wrote the table.
select * from {{ source('ml', 'customer_scores') }}

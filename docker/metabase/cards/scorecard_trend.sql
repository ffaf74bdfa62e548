-- The customer-management scorecard by month: acquisition, activity, retention and churn.
select
    month,
    active_customers,
    new_customers,
    retention_rate,
    churn_rate
from marts.crm_scorecard_monthly
order by month

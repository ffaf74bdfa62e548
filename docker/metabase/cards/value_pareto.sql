-- The 80/20 curve: share of revenue from the top x% of customers.
select
    customer_percentile,
    cumulative_revenue_share
from marts.customer_value_pareto
order by customer_percentile

-- One customer's single view: pick a customer_id in the dashboard filter.
select
    customer_id,
    first_name,
    last_name,
    city,
    country,
    first_order_at,
    last_order_at,
    order_count,
    total_revenue,
    average_order_value,
    rfm_segment,
    value_decile,
    clv,
    churn_probability,
    cluster_name
from marts.customer_360
where customer_id = {{customer_id}}

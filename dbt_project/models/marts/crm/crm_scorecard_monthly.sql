-- The customer-management scorecard: one row per calendar month from the month of
-- the first to the month of the latest identified order (months without orders
-- included). Each measure's exact definition is in crm_scorecard_monthly.yml.
--
-- The customer base: a customer is "active at" a date when they ordered in the
-- var scorecard_active_window_months whole months before it (default 12). For a month
-- M, the base at its start is who ordered in the window months before M; a customer
-- of that base is retained when still in the base at the end of M (ordered in the
-- window ending with M) and churned when not. So retention_rate + churn_rate = 1.
{%- set window_months = var('scorecard_active_window_months') %}

with

calendar as (

    select * from {{ ref('dim_date') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

campaign_responses as (

    select * from {{ ref('fct_campaign_responses') }}

),

service_contacts as (

    select * from {{ ref('fct_service_contacts') }}

),

survey_responses as (

    select * from {{ ref('fct_survey_responses') }}

),

customer_scores as (

    select * from {{ ref('customer_scores') }}

),

customer_orders as (

    select
        customer_id,
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as order_month,
        amount
    from orders
    where customer_id is not null

),

months as (

    select distinct calendar.month_start as month
    from calendar
    where calendar.month_start between (select min(order_month) from customer_orders)
        and (select max(order_month) from customer_orders)

),

customer_months as (

    select
        customer_id,
        order_month,
        sum(amount) as revenue
    from customer_orders
    group by customer_id, order_month

),

first_order_months as (

    select
        customer_id,
        min(order_month) as first_order_month
    from customer_months
    group by customer_id

),

-- per month, every customer who ordered in that month or the window before it
customer_base as (

    select
        months.month,
        customer_months.customer_id,
        bool_or(customer_months.order_month = months.month) as is_active,
        bool_or(customer_months.order_month < months.month) as is_in_base_at_start,
        bool_or(
            customer_months.order_month > cast({{ dbt.dateadd('month', -window_months, 'months.month') }} as date)
        ) as is_in_base_at_end,
        sum(customer_months.revenue) filter (where customer_months.order_month = months.month) as revenue
    from months
    inner join customer_months
        on customer_months.order_month <= months.month
        and customer_months.order_month >= cast({{ dbt.dateadd('month', -window_months, 'months.month') }} as date)
    group by months.month, customer_months.customer_id

),

active_ranked as (

    select
        month,
        customer_id,
        revenue,
        row_number() over (partition by month order by revenue desc, customer_id) as revenue_rank,
        count(*) over (partition by month) as active_customers
    from customer_base
    where is_active

),

base_summary as (

    select
        month,
        count(*) filter (where is_active) as active_customers,
        count(*) filter (where is_in_base_at_start) as customers_at_start,
        count(*) filter (where is_in_base_at_start and is_in_base_at_end) as retained_customers,
        count(*) filter (where is_in_base_at_start and not is_in_base_at_end) as churned_customers,
        sum(revenue) as revenue
    from customer_base
    group by month

),

top_customers as (

    -- the top 20%: the first floor(n / 5) of the month's n active customers by revenue
    select
        month,
        sum(revenue) filter (where revenue_rank <= floor(active_customers * 20 / 100.0)) as top_20pct_revenue
    from active_ranked
    group by month

),

new_customers as (

    select
        first_order_month as month,
        count(*) as new_customers
    from first_order_months
    group by first_order_month

),

products as (

    select
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as month,
        count(distinct customer_id || '|' || product_sku) as customer_products
    from order_lines
    where customer_id is not null
        and product_sku is not null
    group by 1

),

campaigns as (

    select
        cast({{ dbt.date_trunc('month', 'sent_date') }} as date) as month,
        count(*) as campaign_recipients,
        count(*) filter (where has_responded) as campaign_responders
    from campaign_responses
    where is_sent
    group by 1

),

service as (

    select
        cast({{ dbt.date_trunc('month', 'contact_date') }} as date) as month,
        count(*) as service_contacts,
        count(*) filter (where is_resolved_first_time) as resolved_first_time,
        count(is_resolved_first_time) as contacts_with_resolution,
        avg(handling_seconds) as avg_handling_seconds
    from service_contacts
    group by 1

),

surveys as (

    select
        cast({{ dbt.date_trunc('month', 'response_date') }} as date) as month,
        count(*) as survey_responses,
        avg(satisfaction_score) as avg_satisfaction_score
    from survey_responses
    group by 1

),

base_value as (

    select
        sum(clv) as total_clv,
        max(cutoff_date) as clv_cutoff_date
    from customer_scores

),

final as (

    select
        months.month,
        coalesce(new_customers.new_customers, 0) as new_customers,
        coalesce(base_summary.active_customers, 0) as active_customers,
        coalesce(base_summary.customers_at_start, 0) as customers_at_start,
        coalesce(base_summary.retained_customers, 0) as retained_customers,
        cast(base_summary.retained_customers::numeric / nullif(base_summary.customers_at_start, 0) as numeric(5, 4))
            as retention_rate,
        coalesce(base_summary.churned_customers, 0) as churned_customers,
        cast(base_summary.churned_customers::numeric / nullif(base_summary.customers_at_start, 0) as numeric(5, 4))
            as churn_rate,
        cast(coalesce(base_summary.revenue, 0) as numeric(18, 2)) as revenue,
        cast(base_summary.revenue / nullif(base_summary.active_customers, 0) as numeric(18, 2))
            as revenue_per_active_customer,
        cast(coalesce(products.customer_products, 0)::numeric / nullif(base_summary.active_customers, 0) as numeric(10, 2))
            as products_per_customer,
        cast(coalesce(top_customers.top_20pct_revenue, 0) / nullif(base_summary.revenue, 0) as numeric(5, 4))
            as top_20pct_revenue_share,
        coalesce(campaigns.campaign_recipients, 0) as campaign_recipients,
        cast(campaigns.campaign_responders::numeric / nullif(campaigns.campaign_recipients, 0) as numeric(5, 4))
            as campaign_response_rate,
        coalesce(service.service_contacts, 0) as service_contacts,
        cast(service.resolved_first_time::numeric / nullif(service.contacts_with_resolution, 0) as numeric(5, 4))
            as first_contact_resolution_rate,
        cast(service.avg_handling_seconds as numeric(12, 1)) as avg_handling_seconds,
        coalesce(surveys.survey_responses, 0) as survey_responses,
        cast(surveys.avg_satisfaction_score as numeric(4, 2)) as avg_satisfaction_score,
        cast(base_value.total_clv as numeric(18, 2)) as total_clv,
        base_value.clv_cutoff_date
    from months
    left join base_summary on base_summary.month = months.month
    left join top_customers on top_customers.month = months.month
    left join new_customers on new_customers.month = months.month
    left join products on products.month = months.month
    left join campaigns on campaigns.month = months.month
    left join service on service.month = months.month
    left join surveys on surveys.month = months.month
    cross join base_value

)

select * from final

-- One row per customer: golden attributes, behaviour summaries, RFM scores (from
-- customer_rfm), the value decile and the scores of the latest cutoff from the
-- customer_scores mart (null for customers not scored at that cutoff).
{%- set send_types = var('campaign_send_event_types') %}
{%- set response_types = var('campaign_response_event_types') %}

with

customers as (

    select * from {{ ref('dim_customer') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

call_center_contacts as (

    select * from {{ ref('stg_call_center__contacts') }}

),

survey_responses as (

    select * from {{ ref('stg_surveys__responses') }}

),

email_campaign_events as (

    select * from {{ ref('stg_email__campaign_events') }}

),

customer_source_xref as (

    select * from {{ ref('stg_identity__customer_source_xref') }}

),

customer_scores as (

    select * from {{ ref('customer_scores') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

customer_rfm as (

    select * from {{ ref('customer_rfm') }}

),

order_summary as (

    {{ customer_order_summary('orders') }}

),

scores_cutoff as (

    select max(cutoff_date) as cutoff_date from customer_scores

),

-- deciles by revenue among customers with an order, with the rule of
-- customer_value_pareto: decile d holds ranks r with ceil(10 * r / n) = d. Customers
-- with equal revenue share the decile of their best rank: which of them would fall on
-- the far side of a decile boundary must not depend on how their customer_ids were minted
value_deciles as (

    select
        customer_id,
        cast(ceil(
            10.0 * rank() over (order by total_revenue desc) / count(*) over ()
        ) as integer) as value_decile
    from order_summary

),

product_summary as (

    select
        customer_id,
        count(distinct product_sku) as products_per_customer
    from order_lines
    where customer_id is not null
    group by customer_id

),

service_summary as (

    select
        customer_source_xref.customer_id,
        count(*) as service_contact_count,
        count(*) filter (where call_center_contacts.is_complaint) as complaint_count
    from call_center_contacts
    inner join customer_source_xref
        on customer_source_xref.source = 'call_center_contacts'
        and customer_source_xref.source_record_key = call_center_contacts.contact_id
    group by customer_source_xref.customer_id

),

surveys_ranked as (

    select
        customer_source_xref.customer_id,
        survey_responses.satisfaction_score,
        row_number() over (
            partition by customer_source_xref.customer_id
            order by survey_responses.responded_at desc, survey_responses.response_id desc
        ) as recency_rank
    from survey_responses
    inner join customer_source_xref
        on customer_source_xref.source = 'surveys'
        and customer_source_xref.source_record_key = survey_responses.response_id

),

latest_survey as (

    select
        customer_id,
        satisfaction_score as latest_satisfaction_score
    from surveys_ranked
    where recency_rank = 1

),

campaign_summary as (

    select
        customer_source_xref.customer_id,
        count(*) filter (
            where email_campaign_events.event_type in ('{{ send_types | join("', '") }}')
        ) as campaign_emails_sent,
        count(distinct email_campaign_events.campaign_id) filter (
            where email_campaign_events.event_type in ('{{ send_types | join("', '") }}')
        ) as campaigns_sent,
        count(distinct email_campaign_events.campaign_id) filter (
            where email_campaign_events.event_type in ('{{ response_types | join("', '") }}')
        ) as campaigns_responded
    from email_campaign_events
    inner join customer_source_xref
        on customer_source_xref.source = 'email_campaign_events'
        and customer_source_xref.source_record_key = email_campaign_events.email_normalised
    group by customer_source_xref.customer_id

),

final as (

    select
        customers.customer_id,
        customers.email_key,
        customers.first_name,
        customers.last_name,
        customers.email,
        customers.phone,
        customers.city,
        customers.postcode,
        customers.country,
        customers.date_of_birth,
        customers.source_systems,
        customers.first_seen_at,
        customers.last_seen_at,

        order_summary.first_order_at,
        order_summary.last_order_at,
        coalesce(order_summary.order_count, 0) as order_count,
        coalesce(order_summary.total_revenue, 0) as total_revenue,
        order_summary.average_order_value,
        order_summary.channels_used,
        coalesce(product_summary.products_per_customer, 0) as products_per_customer,
        value_deciles.value_decile,

        coalesce(service_summary.service_contact_count, 0) as service_contact_count,
        coalesce(service_summary.complaint_count, 0) as complaint_count,
        latest_survey.latest_satisfaction_score,

        coalesce(campaign_summary.campaign_emails_sent, 0) as campaign_emails_sent,
        round(
            least(campaign_summary.campaigns_responded::numeric / nullif(campaign_summary.campaigns_sent, 0), 1),
            4
        ) as campaign_response_rate,

        customer_rfm.recency_score,
        customer_rfm.frequency_score,
        customer_rfm.monetary_score,
        customer_rfm.rfm_score,
        customer_rfm.rfm_segment,
        customer_rfm.as_of_date as rfm_as_of_date,

        latest_scores.churn_probability,
        latest_scores.expected_purchases,
        latest_scores.expected_revenue,
        latest_scores.p_alive,
        latest_scores.clv,
        latest_scores.cluster_name,
        latest_scores.model_version as scores_model_version,
        latest_scores.cutoff_date as scores_cutoff_date,
        -- why a customer has no scores (null when scored): scoring covers every customer with an
        -- order before the cut-off, whatever it cost (free orders and refunds too), so 'not_scored'
        -- is a fault, flagged by a warning test
        case
            when latest_scores.customer_id is not null then null
            when scores_cutoff.cutoff_date is null then 'no_scores_yet'
            when order_summary.customer_id is null then 'no_orders'
            when order_summary.first_order_at >= cast(scores_cutoff.cutoff_date as timestamp) at time zone 'UTC'
                then 'first_order_after_cutoff'
            else 'not_scored'
        end as unscored_reason

    from customers
    cross join scores_cutoff
    left join order_summary on order_summary.customer_id = customers.customer_id
    left join value_deciles on value_deciles.customer_id = customers.customer_id
    left join product_summary on product_summary.customer_id = customers.customer_id
    left join customer_rfm on customer_rfm.customer_id = customers.customer_id
    left join service_summary on service_summary.customer_id = customers.customer_id
    left join latest_survey on latest_survey.customer_id = customers.customer_id
    left join campaign_summary on campaign_summary.customer_id = customers.customer_id
    left join customer_scores as latest_scores on latest_scores.customer_id = customers.customer_id

)

select * from final

-- Uncertain pairs awaiting a steward: both records side by side, why the pair is
-- in the queue, the rule or model score behind it, and the SQL that decides it.
with

review_queue as (

    select * from {{ ref('stg_identity__review_queue') }}

),

match_pairs as (

    select * from {{ ref('stg_identity__match_pairs') }}

),

customer_source_xref as (

    select * from {{ ref('stg_identity__customer_source_xref') }}

),

source_records as (

    select * from {{ ref('int_source_records') }}

),

side_by_side as (

    select
        review_queue.left_source,
        review_queue.left_source_record_key,
        review_queue.right_source,
        review_queue.right_source_record_key,
        left_xref.customer_id as left_customer_id,
        right_xref.customer_id as right_customer_id,
        review_queue.reason,
        review_queue.rule,
        left_records.first_name as left_first_name,
        right_records.first_name as right_first_name,
        left_records.last_name as left_last_name,
        right_records.last_name as right_last_name,
        left_records.email_normalised as left_email,
        right_records.email_normalised as right_email,
        left_records.phone_normalised as left_phone,
        right_records.phone_normalised as right_phone,
        left_records.postcode_normalised as left_postcode,
        right_records.postcode_normalised as right_postcode,
        left_records.account_id as left_account_id,
        right_records.account_id as right_account_id,
        left_records.date_of_birth as left_date_of_birth,
        right_records.date_of_birth as right_date_of_birth,
        coalesce(review_queue.match_probability, match_pairs.match_probability) as match_probability,
        match_pairs.match_weight,
        match_pairs.evidence,
        'insert into identity.steward_decisions (left_source, left_source_record_key, right_source, '
            || 'right_source_record_key, decision, note) values ('
            || quote_literal(review_queue.left_source) || ', '
            || quote_literal(review_queue.left_source_record_key) || ', '
            || quote_literal(review_queue.right_source) || ', '
            || quote_literal(review_queue.right_source_record_key)
            || ', ''must_link'' /* or ''cannot_link'' */, ''why'');' as how_to_decide,
        review_queue.run_id as queued_by_run_id
    from review_queue
    left join customer_source_xref as left_xref
        on left_xref.source = review_queue.left_source
        and left_xref.source_record_key = review_queue.left_source_record_key
    left join customer_source_xref as right_xref
        on right_xref.source = review_queue.right_source
        and right_xref.source_record_key = review_queue.right_source_record_key
    left join source_records as left_records
        on left_records.source = review_queue.left_source
        and left_records.source_record_key = review_queue.left_source_record_key
    left join source_records as right_records
        on right_records.source = review_queue.right_source
        and right_records.source_record_key = review_queue.right_source_record_key
    -- match_pairs holds one row per pair: its latest score.
    left join match_pairs
        on match_pairs.left_source = review_queue.left_source
        and match_pairs.left_source_record_key = review_queue.left_source_record_key
        and match_pairs.right_source = review_queue.right_source
        and match_pairs.right_source_record_key = review_queue.right_source_record_key

),

final as (

    select * from side_by_side

)

select * from final

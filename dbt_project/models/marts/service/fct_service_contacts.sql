-- One row per call-centre contact, linked to the resolved customer.
-- The call-centre source records phone calls only and has no channel column,
-- so there is no contact channel here (fct_touchpoints files them under 'phone').
with

call_center_contacts as (

    select * from {{ ref('stg_call_center__contacts') }}

),

customer_source_xref as (

    select * from {{ ref('stg_identity__customer_source_xref') }}

),

final as (

    select
        {{ surrogate_key(["'call_center_contacts'", 'call_center_contacts.contact_id']) }} as service_contact_key,
        call_center_contacts.contact_id,
        customer_source_xref.customer_id,
        {{ bi_text('call_center_contacts.contact_reason') }} as contact_reason,
        call_center_contacts.handling_seconds,
        call_center_contacts.is_complaint,
        call_center_contacts.is_resolved_first_time,
        {{ reporting_date('call_center_contacts.contacted_at') }} as contact_date,
        call_center_contacts.contacted_at
    from call_center_contacts
    left join customer_source_xref
        on customer_source_xref.source = 'call_center_contacts'
        and customer_source_xref.source_record_key = call_center_contacts.contact_id

)

select * from final

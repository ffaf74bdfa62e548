-- One row per calendar day, whole years around every interaction in fct_touchpoints
-- (which includes the orders), so BI filters by year, quarter, month or week and
-- days without activity still show up as zero.
with

touchpoints as (

    select * from {{ ref('fct_touchpoints') }}

),

data_range as (

    select
        min({{ reporting_date('occurred_at') }}) as first_date,
        max({{ reporting_date('occurred_at') }}) as last_date
    from touchpoints

),

bounds as (

    -- whole calendar years (no data yet: no days)
    select
        cast(date_trunc('year', first_date) as date) as start_date,
        cast(date_trunc('year', last_date) + interval '1 year - 1 day' as date) as end_date
    from data_range

),

spine as (

    {{ date_spine('(select start_date from bounds)', '(select end_date from bounds)') }}

),

final as (

    select
        date_day,
        to_char(date_day, 'FMMonth') as month_name,
        to_char(date_day, 'FMDay') as day_name,
        cast(extract(year from date_day) as integer) as year,
        cast(extract(quarter from date_day) as integer) as quarter,
        cast(extract(month from date_day) as integer) as month_of_year,
        cast(extract(isoyear from date_day) as integer) as iso_year,
        cast(extract(week from date_day) as integer) as iso_week,
        cast(extract(isodow from date_day) as integer) as day_of_week,
        extract(isodow from date_day) in (6, 7) as is_weekend,
        cast(date_trunc('month', date_day) as date) as month_start,
        cast(date_trunc('quarter', date_day) as date) as quarter_start,
        cast(date_trunc('week', date_day) as date) as iso_week_start
    from spine

)

select * from final

-- How many customers sit in each RFM segment.
select
    rfm_segment,
    count(*) as customers
from marts.customer_rfm
group by rfm_segment
order by customers desc

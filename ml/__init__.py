"""Customer churn, CLV and segments computed from the warehouse's order history.

Modules: features (per-customer features and churn labels), churn (calibrated
gradient boosting + recency baseline), clv (BG/NBD + Gamma-Gamma), segments
(RFM rule table), artifacts (checksummed model files), scoring (the I/O layer:
marts.fct_orders in, ml.* tables out). Entry point: ``python -m ml --cutoff YYYY-MM-DD``.
"""

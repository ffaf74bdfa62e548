"""Customer churn, CLV and behaviour clusters computed from the warehouse's order and touch-point history.

Modules, from the data up: history (the transaction and touch-point frames and
the time conventions), features (per-customer features as of a cutoff, horizon
outcomes, training snapshots), clv (BG/NBD + Gamma-Gamma), boosting (the
settings every booster shares), churn (calibrated gradient boosting + recency
baseline), purchases (BG/NBD vs a learned model for the next H days, chosen by
backtest), clusters (k-means with named profiles; RFM segments are dbt's, marts.customer_rfm),
evaluation (calibration, gains and decile tables), config (the scoring settings
and model version), champion (the champion/challenger rule and the two
decisions), registry (registry rows, checksummed model files, champions read
back), store (the ml tables, reading the facts, writing a run) and scoring (the
pure core, ``score_customers`` and the refit cadence).
Entry point: ``python -m customer360.ml --cutoff YYYY-MM-DD``.
"""

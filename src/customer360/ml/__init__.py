"""Customer churn, CLV and segments computed from the warehouse's order and touch-point history.

Modules: features (per-customer features as of a cutoff, horizon outcomes,
training snapshots), churn (calibrated gradient boosting + recency baseline),
clv (BG/NBD + Gamma-Gamma), purchases (BG/NBD vs a learned model for the next
H days, chosen by backtest), segments (RFM rule table), clusters (k-means with
named profiles), champion (the champion/challenger rule), evaluation
(calibration, gains and decile tables), artifacts (checksummed model files),
scoring (fit, score_frame, and the I/O layer: marts in, ml.* tables out).
Entry point: ``python -m customer360.ml --cutoff YYYY-MM-DD``.
"""

"""The run report's plots, each a base64 PNG drawn by matplotlib's Agg backend (imported when first drawn)."""

from __future__ import annotations

import base64
import io
from typing import Any


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    return plt, fig, ax


def _png(plt, fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plot_revenue_curve(revenue: list[float]) -> str:
    import numpy as np

    values = np.sort(np.clip(np.asarray(revenue, dtype=float), 0, None))[::-1]
    total = values.sum()
    plt, fig, ax = _figure()
    x = np.arange(1, len(values) + 1) / len(values) * 100
    y = np.cumsum(values) / total * 100 if total > 0 else np.zeros_like(values)
    ax.plot(np.r_[0, x], np.r_[0, y], color="#1565c0", label="customers, by revenue (desc)")
    ax.plot([0, 100], [0, 100], ls="--", color="#999", label="equal share")
    top20 = float(np.interp(20, np.r_[0, x], np.r_[0, y]))
    ax.axvline(20, color="#c62828", lw=0.8)
    ax.annotate(
        f"top 20% = {top20:.0f}% of revenue",
        (20, top20),
        xytext=(30, max(top20 - 20, 5)),
        arrowprops={"arrowstyle": "->"},
    )
    ax.set_xlabel("customer percentile (by revenue)")
    ax.set_ylabel("cumulative share of revenue (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 101)
    ax.legend(loc="lower right")
    return _png(plt, fig)


def plot_check_trend(trend: list[tuple[str, int, int]]) -> str:
    plt, fig, ax = _figure()
    x = range(len(trend))
    errors = [e for _, e, _ in trend]
    warns = [w for _, _, w in trend]
    ax.bar(x, errors, color="#c62828", label="error")
    ax.bar(x, warns, bottom=errors, color="#ef6c00", label="warn")
    ax.set_xticks(list(x))
    ax.set_xticklabels([_short(run) for run, _, _ in trend], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("failed checks")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left")
    return _png(plt, fig)


def plot_quarantine_trend(trend: dict[str, list[tuple[str, float]]]) -> str:
    plt, fig, ax = _figure()
    batches = list(dict.fromkeys(b for points in trend.values() for b, _ in points))
    position = {b: i for i, b in enumerate(batches)}
    for source, points in sorted(trend.items()):
        ax.plot([position[b] for b, _ in points], [100 * share for _, share in points], marker="o", label=source)
    ax.set_xticks(range(len(batches)))
    ax.set_xticklabels([_short(b) for b in batches], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("rows quarantined (%)")
    ax.legend(fontsize=7, ncol=2)
    return _png(plt, fig)


def _short(run_id: str, width: int = 24) -> str:
    return run_id if len(run_id) <= width else run_id[: width - 1] + "…"


def plot_churn_histogram(churn: list[float]) -> str:
    plt, fig, ax = _figure()
    ax.hist(churn, bins=20, range=(0, 1), color="#6a1b9a", edgecolor="white")
    ax.set_xlabel("churn probability")
    ax.set_ylabel("customers")
    return _png(plt, fig)


def plot_clv_deciles(clv: list[float]) -> str:
    import numpy as np

    values = np.sort(np.asarray(clv, dtype=float))
    deciles = np.array_split(values, 10) if len(values) >= 10 else [values]
    means = [float(d.mean()) if len(d) else 0.0 for d in deciles]
    plt, fig, ax = _figure()
    ax.bar(range(1, len(means) + 1), means, color="#2e7d32")
    ax.set_xlabel("CLV decile (1 = lowest)")
    ax.set_ylabel("mean CLV")
    ax.set_xticks(range(1, len(means) + 1))
    return _png(plt, fig)


ML_PLOTS = (
    "Churn calibration (backtest)",
    "Churn gains chart (backtest)",
    "Revenue in the horizon by predicted decile (backtest)",
    "Cluster profiles",
)


def ml_plots(evaluation: dict[str, list[dict[str, Any]]]) -> dict[str, str | None]:
    calibration, gains = evaluation.get("churn_calibration"), evaluation.get("churn_gains")
    deciles, clusters = evaluation.get("revenue_deciles"), evaluation.get("cluster_profiles")
    plots = (
        _plot_calibration(calibration) if calibration else None,
        _plot_gains(gains) if gains else None,
        _plot_revenue_deciles(deciles) if deciles else None,
        _plot_cluster_profiles(clusters) if clusters else None,
    )
    return dict(zip(ML_PLOTS, plots))


def _plot_calibration(rows: list[dict[str, Any]]) -> str:
    plt, fig, ax = _figure()
    ax.plot([0, 1], [0, 1], ls="--", color="#999", label="perfect calibration")
    ax.plot(
        [r["mean_predicted"] for r in rows],
        [r["observed_rate"] for r in rows],
        marker="o",
        color="#6a1b9a",
        label="model (bins of equal size)",
    )
    ax.set_xlabel("mean predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    return _png(plt, fig)


def _plot_gains(rows: list[dict[str, Any]]) -> str:
    plt, fig, ax = _figure()
    x = [0] + [r["decile"] * 10 for r in rows]
    ax.plot(x, [0] + [100 * r["cumulative_gain"] for r in rows], marker="o", color="#6a1b9a", label="model")
    if all(r.get("baseline_cumulative_gain") is not None for r in rows):
        ax.plot(
            x,
            [0] + [100 * r["baseline_cumulative_gain"] for r in rows],
            marker=".",
            color="#ef6c00",
            label="recency rule",
        )
    ax.plot([0, 100], [0, 100], ls="--", color="#999", label="random")
    top = rows[0]
    ax.annotate(
        f"lift in top decile: {top['lift']:.1f}x",
        (10, 100 * top["cumulative_gain"]),
        xytext=(30, 20),
        arrowprops={"arrowstyle": "->"},
    )
    ax.set_xlabel("customers contacted, by predicted churn (%)")
    ax.set_ylabel("churners found (%)")
    ax.legend(loc="lower right")
    return _png(plt, fig)


def _plot_revenue_deciles(rows: list[dict[str, Any]]) -> str:
    import numpy as np

    plt, fig, ax = _figure()
    x = np.array([r["decile"] for r in rows])
    ax.bar(x - 0.2, [r["mean_predicted"] for r in rows], width=0.4, color="#1565c0", label="predicted")
    ax.bar(x + 0.2, [r["mean_actual"] for r in rows], width=0.4, color="#2e7d32", label="actual")
    ax.set_xlabel("decile of predicted revenue (1 = highest)")
    ax.set_ylabel("mean revenue per customer")
    ax.set_xticks(x)
    ax.legend(loc="upper right")
    return _png(plt, fig)


def _plot_cluster_profiles(rows: list[dict[str, Any]]) -> str:
    import numpy as np

    plt, fig, ax = _figure()
    names = [f"{r['cluster_name']} ({r['customers']:,})" for r in rows]
    y = np.arange(len(rows))
    values = [r.get("clv") or 0.0 for r in rows]
    ax.barh(y, values, color="#2e7d32")
    for i, r in enumerate(rows):
        ax.annotate(
            f"churn {r.get('churn_probability') or 0:.0%}, recency {r['recency_days']:.0f} d",
            (values[i], i),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, max(values + [1.0]) * 1.6)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("mean CLV")
    return _png(plt, fig)

"""The real DAG, run by Airflow's dag.test(), on a small simulated company and the real Postgres.

Most tests read the session's shared company (tests/e2e/conftest.py: two runs over the same
interval); the two that change a warehouse work on a copy of it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from customer360.db.connection import connect
from customer360.devtools.server import drop_database
from customer360.orchestration import stages
from customer360.orchestration.interval import DataInterval
from customer360.quality.gate import QualityGateFailed
from customer360.simulator import simulate
from customer360.simulator.config import SimulationConfig
from tests.support.company import PEOPLE
from tests.support.snapshots import query, run_snapshot
from tests.support.warehouses import copy_warehouse, new_warehouse


def test_the_dag_run_succeeds_twice(company):
    assert company.ok == (True, True), f"see the logs in {company.warehouse.work}"


def test_customer_360_has_one_row_per_resolved_customer(company):
    s = company.warehouse.settings
    counts = query(
        s,
        """select (select count(*) from marts.customer_360) as c360,
                                (select count(distinct customer_id) from marts.customer_360) as distinct_ids,
                                (select count(distinct customer_id) from identity.customer_source_xref) as resolved,
                                (select count(*) from marts.dim_customer) as dim""",
    ).iloc[0]
    assert counts.c360 == counts.distinct_ids == counts.resolved == counts.dim
    assert 0.5 * PEOPLE < counts.c360 < 2 * PEOPLE


def test_the_same_person_across_sources_becomes_one_customer(company):
    truth = pd.read_csv(company.warehouse.settings.truth_dir / "source_records.csv", dtype=str)
    truth["source_record_key"] = truth.apply(
        lambda r: r.source_record_key.strip().lower() if r.source == "email_campaign_events" else r.source_record_key,
        axis=1,
    )
    xref = company.first["xref"]
    joined = xref.merge(truth, on=["source", "source_record_key"], how="inner")
    assert len(joined) > 0.9 * len(xref)
    # Precision: a resolved customer is one person.
    persons_per_customer = joined.groupby("customer_id")["person_id"].nunique()
    assert (persons_per_customer == 1).mean() > 0.97
    # Recall on the strong keys: people seen in CRM and the web shop are merged.
    crm_web = joined[joined.source.isin(["crm_accounts", "web_orders"])]
    both = crm_web.groupby("person_id").filter(lambda g: g.source.nunique() == 2)
    merged = both.groupby("person_id")["customer_id"].nunique() == 1
    assert len(merged) > 10 and merged.mean() > 0.9
    sources_per_customer = joined.groupby("customer_id")["source"].nunique()
    assert (sources_per_customer >= 3).sum() > 0.2 * len(sources_per_customer)


def test_scores_are_in_range_for_every_buying_customer(company):
    s = company.warehouse.settings
    scores = query(
        s,
        "select order_count, churn_probability, clv, p_alive, expected_purchases, unscored_reason "
        "from marts.customer_360",
    )
    # every customer has scores, or says why not; none was missed
    assert (scores.churn_probability.notna() == scores.unscored_reason.isna()).all()
    assert "not_scored" not in set(scores.unscored_reason.dropna())
    buyers = scores[scores.order_count > 0]
    assert len(buyers) > 0.3 * len(scores)
    assert buyers.churn_probability.notna().all() and buyers.clv.notna().all()
    assert buyers.churn_probability.between(0, 1).all()
    assert (buyers.clv.astype(float) >= 0).all()
    assert buyers.churn_probability.std() > 0.01, "churn scores do not vary"


def test_bad_rows_are_quarantined_not_lost(company):
    s = company.warehouse.settings
    manifest = query(
        s,
        "select sum(rows_in_file) as total, sum(rows_loaded) as loaded, "
        "sum(rows_quarantined) as quarantined from ops.file_manifest",
    ).iloc[0]
    assert manifest.quarantined > 0
    assert manifest.loaded + manifest.quarantined == manifest.total


def test_rerunning_the_interval_changes_nothing(company):
    first, second = company.first, company.second
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)


def test_the_run_report_is_written_with_a_plot(company):
    reports = Path(company.warehouse.settings.reports_dir)
    html = (reports / "run_report.html").read_text()
    assert "data:image/png;base64," in html
    assert '<img alt="Failed checks over the last 20 runs"' in html  # two runs so far: a trend


def test_the_dq_marts_show_the_latest_checks(company):
    with connect(company.warehouse.settings) as conn:
        tables = dict(conn.execute("select table_name, status from marts.dq_table_status").fetchall())
    assert "raw.pos_transactions" in tables and "marts.customer_360" in tables
    assert set(tables.values()) <= {"passed", "warnings"}


def test_an_error_level_check_on_raw_data_stops_the_run_before_the_marts(server_url, tmp_path, airflow_home):
    """Rows the loader accepts but a raw expectation rejects (an unknown e-mail event type)."""
    warehouse = new_warehouse(server_url, tmp_path, "gate", airflow_home)
    settings = warehouse.settings
    config = SimulationConfig(people=100, days=40, defect_rate=0.0)
    simulate(config, settings.data_dir)
    day = config.start + timedelta(days=20)
    bad_file = settings.landing_dir / "email_campaign_events" / f"{day}" / f"email_campaign_events_{day}_009.jsonl"
    bad_file.parent.mkdir(parents=True, exist_ok=True)
    bad_file.write_text(
        '{"event_id": "M9", "campaign_id": "C001", "campaign_name": "x", "email": "a@b.example",'
        f' "event_type": "exploded", "occurred_at": "{day}T10:00:00Z"}}\n'
    )
    progress: list[str] = []
    try:
        ok = warehouse.run(config.start, config.start + timedelta(days=config.days), "gate", progress.append)
        assert not ok
        shown = "\n".join(progress)
        assert "failed        check_raw" in shown
        assert "accepted_values:event_type" in warehouse.log("gate").read_text()
        with connect(settings) as conn:
            assert conn.execute("select to_regclass('marts.customer_360')").fetchone()[0] is None
            failed = conn.execute(
                "select check_name, failing_count from ops.dq_results where not passed and severity = 'error'"
            ).fetchall()
        assert failed == [("accepted_values:event_type", 1)]
        # the steward still gets the report, which says what stopped the run
        report = (settings.reports_dir / "run_report.html").read_text()
        assert '<span class="status failed">failed</span>' in report and "accepted_values:event_type" in report
        assert "success       write_report" in shown and "failed        run_outcome" in shown
    finally:
        drop_database(warehouse.url)


def test_identity_scores_pairs_and_a_rerun_of_the_interval_keeps_them(company):
    s = company.warehouse.settings
    # One row per execution: the interval's first run (full) and its rerun (incremental, nothing new to match).
    runs = query(
        s, "select attempt, mode, records_matched, scored_pairs from identity.resolution_runs order by attempt"
    )
    assert runs["mode"].tolist() == ["full", "incremental"]
    first_run, rerun = runs.iloc[0], runs.iloc[1]
    assert first_run.scored_pairs > 0 and (rerun.records_matched, rerun.scored_pairs) == (0, 0)
    pairs = query(
        s,
        "select count(*) as scored, count(*) filter (where outcome = 'link') as links, "
        "count(*) filter (where evidence ? 'last_name') as with_evidence from identity.match_pairs",
    ).iloc[0]
    assert pairs.scored == first_run.scored_pairs and pairs.links > 0 and pairs.with_evidence == pairs.scored
    review = query(
        s,
        "select count(*) filter (where left_customer_id = right_customer_id) as same from steward.steward_review_pairs",
    ).iloc[0]
    assert review.same == 0


def test_rfm_has_one_row_per_buying_customer_with_named_segments(company):
    s = company.warehouse.settings
    rfm = query(
        s, "select customer_id, rfm_segment, recency_score, frequency_score, monetary_score from marts.customer_rfm"
    )
    buyers = query(s, "select distinct customer_id from marts.fct_orders where customer_id is not null")
    assert rfm.customer_id.is_unique and set(rfm.customer_id) == set(buyers.customer_id)
    assert rfm.rfm_segment.notna().all() and rfm.rfm_segment.nunique() >= 5
    for score in ("recency_score", "frequency_score", "monetary_score"):
        assert rfm[score].between(1, 5).all() and rfm[score].max() == 5, score
    # customer_360 carries the same segment, and still one row per customer
    joined = query(
        s,
        "select count(*) filter (where c.rfm_segment is distinct from r.rfm_segment) as differ, "
        "count(*) as buyers from marts.customer_360 c join marts.customer_rfm r using (customer_id)",
    )
    assert joined.differ[0] == 0 and joined.buyers[0] == len(rfm)
    # the one RFM definition describes the same day as the scores next to it
    as_of = query(
        s, "select distinct rfm_as_of_date, scores_cutoff_date from marts.customer_360 where rfm_as_of_date is not null"
    )
    assert len(as_of) == 1 and as_of.rfm_as_of_date[0] == as_of.scores_cutoff_date[0]


def test_the_pareto_curve_rises_to_one_and_agrees_with_value_deciles(company):
    s = company.warehouse.settings
    pareto = query(
        s,
        "select customer_percentile, customer_count, cumulative_revenue_share "
        "from marts.customer_value_pareto order by 1",
    )
    assert pareto.customer_percentile.tolist() == list(range(1, 101))
    share = pareto.cumulative_revenue_share.astype(float)
    assert share.is_monotonic_increasing and share.iloc[-1] == 1.0
    assert pareto.customer_count.is_monotonic_increasing
    # concentration: the top 20% of customers bring more than 20% of the revenue
    assert share.iloc[19] > 0.2
    deciles = query(
        s,
        "select count(*) filter (where value_decile <= 2) as top_fifth, count(value_decile) as buyers, "
        "count(*) filter (where value_decile <= 2 and total_revenue = (select min(total_revenue) "
        "from marts.customer_360 where value_decile <= 2)) as tied_at_the_boundary "
        "from marts.customer_360",
    ).iloc[0]
    # the top fifth, plus the customers tied in revenue with its last one (equal revenue, equal decile)
    top = pareto.customer_count.iloc[19]
    assert top <= deciles.top_fifth <= top + deciles.tied_at_the_boundary - 1
    assert deciles.buyers == pareto.customer_count.iloc[-1]


def test_the_scorecard_has_every_month_and_consistent_measures(company):
    s = company.warehouse.settings
    card = query(s, "select * from marts.crm_scorecard_monthly order by month")
    months = pd.to_datetime(card.month)
    assert (months.dt.day == 1).all()
    assert months.tolist() == pd.date_range(months.iloc[0], months.iloc[-1], freq="MS").tolist()  # contiguous
    orders = query(
        s,
        "select date_trunc('month', order_date)::date as month, count(distinct customer_id) as active, "
        "sum(amount) as revenue from marts.fct_orders where customer_id is not null group by 1 order by 1",
    )
    assert months.iloc[0] == pd.Timestamp(orders.month.iloc[0]) and months.iloc[-1] == pd.Timestamp(
        orders.month.iloc[-1]
    )
    from_orders = orders.assign(month=pd.to_datetime(orders.month)).rename(columns={"revenue": "order_revenue"})
    by_month = card.assign(month=months).merge(from_orders, on="month", how="left")
    assert (by_month.active_customers == by_month.active.fillna(0)).all()
    assert (by_month.revenue.astype(float) - by_month.order_revenue.fillna(0).astype(float)).abs().max() < 0.01
    # every buying customer is new exactly once
    (buyers,) = query(
        s, "select count(distinct customer_id) as n from marts.fct_orders where customer_id is not null"
    ).n
    assert card.new_customers.sum() == buyers
    based = card[card.customers_at_start > 0]
    assert len(based) > 0
    assert ((based.retention_rate.astype(float) + based.churn_rate.astype(float)) - 1).abs().max() < 0.001
    assert (based.retained_customers + based.churned_customers == based.customers_at_start).all()
    for rate in (
        "retention_rate",
        "churn_rate",
        "top_20pct_revenue_share",
        "campaign_response_rate",
        "first_contact_resolution_rate",
    ):
        assert card[rate].dropna().astype(float).between(0, 1).all(), rate
    assert card.campaign_response_rate.notna().any() and card.avg_satisfaction_score.notna().any()
    (clv,) = query(s, "select sum(clv) as clv from marts.customer_scores").clv
    assert card.total_clv.nunique() == 1 and float(card.total_clv.iloc[0]) == pytest.approx(float(clv))


def test_order_lines_dimensions_and_facts_are_built_by_the_dag(company):
    s = company.warehouse.settings
    checks = query(
        s,
        """select
        (select sum(quantity) from marts.fct_order_lines) as line_units,
        (select sum(item_count) from marts.fct_orders) as order_units,
        (select count(*) from marts.fct_orders o where o.order_date not in (select date_day from marts.dim_date))
            as orders_outside_calendar,
        (select count(*) from marts.fct_order_lines l
            where l.product_sku not in (select product_sku from marts.dim_product)) as lines_without_product,
        (select count(*) from marts.fct_orders o where o.store_id is not null
            and o.store_id not in (select store_id from marts.dim_store)) as orders_without_store,
        (select count(*) from marts.fct_touchpoints t
            where t.channel not in (select channel from marts.dim_channel)) as touchpoints_without_channel,
        (select count(*) from marts.dim_channel where channel_description is null) as unnamed_channels,
        (select count(*) from marts.fct_service_contacts) as contacts,
        (select count(*) from raw.call_center_contacts) as raw_contacts,
        (select count(*) from marts.fct_survey_responses) as surveys,
        (select count(*) from marts.fct_campaign_responses) as campaign_recipients""",
    ).iloc[0]
    assert checks.line_units == checks.order_units > 0
    assert checks.orders_outside_calendar == checks.lines_without_product == checks.orders_without_store == 0
    assert checks.touchpoints_without_channel == checks.unnamed_channels == 0
    assert 0 < checks.contacts <= checks.raw_contacts
    assert checks.surveys > 0 and checks.campaign_recipients > 0


def test_the_marts_are_published_by_a_swap_and_bi_users_never_see_the_build(company):
    with connect(company.warehouse.settings) as conn:
        access = dict(
            conn.execute(
                "select nspname, has_schema_privilege('c360_bi_reader', nspname, 'usage') from pg_namespace "
                "where nspname in ('marts', 'marts_build')"
            ).fetchall()
        )
        # after the second run the build schema holds the first run's marts, kept for the next incremental build
        previous = conn.execute("select count(*) from marts_build.customer_360").fetchone()[0]
    assert access == {"marts": True, "marts_build": False}
    assert previous == len(company.second["customer_360"])


def test_the_run_acts_as_its_roles_and_publishes_history_and_docs(company):
    settings = company.warehouse.settings
    owners = query(
        settings,
        "select distinct n.nspname as schema, pg_get_userbyid(c.relowner) as owner "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'v') and n.nspname in "
        "('staging', 'intermediate', 'steward', 'marts', 'history', 'ml', 'identity')",
    )
    # dbt, identity and ML created their tables as the transformer role, not the superuser
    assert set(owners["owner"]) == {"c360_transformer"}, owners
    history = query(
        settings,
        "select count(*) as versions, count(distinct customer_id) as customers, "
        "(select count(*) from marts.dim_customer) as current from marts.dim_customer_history",
    )
    # two runs over the same data: one version per customer
    assert history.iloc[0].tolist() == [history.iloc[0].current] * 3
    docs = (Path(settings.reports_dir) / "dbt_docs.html").read_text()
    assert "customer_360" in docs and "crm_scorecard_monthly" in docs


def test_a_failed_marts_gate_names_the_check_and_leaves_the_published_marts_as_they_were(company, server_url, tmp_path):
    """A build with one customer twice (what an identity bug would give) fails the marts gate."""
    copy = copy_warehouse(company.warehouse, server_url, tmp_path, "marts_gate")
    try:
        settings = copy.settings
        before = run_snapshot(settings)
        with connect(settings) as conn:
            conn.execute("insert into marts_build.customer_360 select * from marts_build.customer_360 limit 1")
            conn.commit()
        interval = DataInterval(_utc(company.start), _utc(company.end))
        with pytest.raises(
            QualityGateFailed, match=r"unique:customer_id.*customer_360|customer_360.*unique:customer_id"
        ):
            stages.check_marts(settings, interval)
        # publish_marts runs only when check_marts succeeded (tests/dags/test_dags.py): BI keeps the published marts
        pd.testing.assert_frame_equal(run_snapshot(settings)["customer_360"], before["customer_360"])
    finally:
        drop_database(copy.url)


def _utc(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def test_a_broken_delivery_fails_the_raw_gate_and_leaves_the_marts_as_they_were(company, server_url, tmp_path):
    """A till export where every amount is broken lands late, and the interval runs again."""
    copy = copy_warehouse(company.warehouse, server_url, tmp_path, "broken")
    try:
        settings, day = copy.settings, company.end - timedelta(days=1)
        header = "transaction_id;loyalty_id;store_id;transaction_at;amount;currency;items"
        rows = [f"TBROKEN{i};;S001;{day}T12:00:00Z;12,50 GBP;GBP;" for i in range(3000)]
        late = settings.landing_dir / "pos_transactions" / f"{day}" / f"pos_transactions_{day}_007.csv"
        late.write_text("\n".join([header, *rows]) + "\n")
        before = run_snapshot(settings)

        assert not copy.run(company.start, company.end, "broken")
        assert "quarantine_share on raw.pos_transactions failed" in copy.log("broken").read_text()
        after = run_snapshot(settings)
        pd.testing.assert_frame_equal(after["customer_360"], before["customer_360"])  # BI keeps yesterday's marts
        pd.testing.assert_frame_equal(after["xref"], before["xref"])
        report = (Path(settings.reports_dir) / "run_report.html").read_text()
        assert '<span class="status failed">failed</span>' in report and "quarantine_share" in report
    finally:
        drop_database(copy.url)

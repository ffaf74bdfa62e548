"""simulate(): build the world, write the landing files day by day, then the truth."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from customer360.ingestion.contracts import IDENTITY_KEY_COLUMNS, SOURCES, SourceContract, landing_file_name
from customer360.simulator import events
from customer360.simulator.config import SimulationConfig, SimulationSummary
from customer360.simulator.defects import DEFECT_CLASSES, inject_rows
from customer360.simulator.formatters import Formatters, dates, money, ts
from customer360.simulator.pools import build_pools
from customer360.simulator.population import DAY, People, build_people, fmt_ids
from customer360.simulator.writer import csv_header, csv_lines, jsonl_lines, write_parquet, write_text

CHUNK_DAYS = 31

Progress = Callable[[str], None]


def _source_seed(name: str) -> int:
    return sum((k + 1) * ord(ch) for k, ch in enumerate(name))


def person_ids(idx: np.ndarray) -> np.ndarray:
    return fmt_ids("P", np.asarray(idx) + 1, 7)


def _tables(config: SimulationConfig, people: People, pools) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    def rng(k: int) -> np.random.Generator:
        return np.random.default_rng([config.seed, 3, k])

    orders = events.purchases(people, pools, rng(1))
    landed = orders[orders["t"] < people.end_s]
    tables = {
        "crm_accounts": events.crm_rows(people),
        "pos_transactions": landed[~landed["web"]].reset_index(drop=True),
        "web_orders": landed[landed["web"]].reset_index(drop=True),
        "web_events": events.web_events(people, landed, rng(2)),
        "call_center_contacts": events.calls(people, rng(3)),
        "email_campaign_events": events.campaign_events(people, rng(4)),
        "surveys": events.after_purchases(people, landed, rng(5), p=0.05, mean_delay_days=3),
        "product_registrations": events.after_purchases(
            people, landed, rng(6), p=0.08, mean_delay_days=7, min_price=2500, pools=pools
        ),
    }
    return tables, orders


class _SourceWriter:
    def __init__(self, config: SimulationConfig, people: People, fmt: Formatters, landing: Path) -> None:
        self.config, self.people, self.fmt, self.landing = config, people, fmt, landing
        self.defects: list[tuple[str, str, str, object, str]] = []
        self.records: list[pd.DataFrame] = []

    def write(self, contract: SourceContract, df: pd.DataFrame) -> tuple[int, int]:
        cfg, p = self.config, self.people
        format_fn = self.fmt.get(contract.name)
        sseed = _source_seed(contract.name)
        defect_rng = np.random.default_rng([cfg.seed, 5, sseed])
        file_rng = np.random.default_rng([cfg.seed, 6, sseed])
        day = ((df["t"].to_numpy() - p.start_s) // DAY).astype(np.int64)
        bounds = np.searchsorted(day, np.arange(0, cfg.days + 1, CHUNK_DAYS).tolist() + [cfg.days])
        files = rows = 0
        rkey = IDENTITY_KEY_COLUMNS[contract.name]
        for c in range(len(bounds) - 1):
            a, b = int(bounds[c]), int(bounds[c + 1])
            if b <= a:
                continue
            chunk = df.iloc[a:b]
            cols = format_fn(chunk, self.fmt.rng(contract.name, c))
            assert list(cols) == contract.column_names, contract.name
            orig_key = cols[contract.key].copy()
            found, extra = inject_rows(contract, cols, defect_rng, cfg.defect_rate)
            person = chunk["person"].to_numpy()
            keys = cols[rkey]
            ok = (person >= 0) & pd.notna(keys)
            self.records.append(
                pd.DataFrame({"source": contract.name, "key": keys[ok], "person": person[ok]}).drop_duplicates()
            )
            if contract.format == "csv":
                lines = csv_lines(contract, cols, extra)
            elif contract.format == "jsonl":
                lines = jsonl_lines(contract, cols)
            else:
                lines = None
            cday = day[a:b]
            starts = np.flatnonzero(np.r_[True, cday[1:] != cday[:-1]])
            ends = np.r_[starts[1:], cday.size]
            defect_rows = sorted(found)
            di = 0
            for s, e in zip(starts, ends):
                d = (cfg.start + pd.Timedelta(days=int(cday[s]))).isoformat()
                d = d[:10]
                folder = self.landing / contract.name / d
                folder.mkdir(parents=True, exist_ok=True)
                name = landing_file_name(contract, d)
                path = folder / name
                if lines is None:
                    write_parquet(path, contract, cols, int(s), int(e))
                else:
                    write_text(
                        path,
                        csv_header(contract) if (contract.format == "csv" and contract.header) else None,
                        lines[s:e],
                    )
                files += 1
                rows += int(e - s)
                first_line = 2 if (contract.format == "csv" and contract.header) else 1
                while di < len(defect_rows) and defect_rows[di][0] < e:
                    row, cls = defect_rows[di]
                    self.defects.append(
                        (
                            cls,
                            contract.name,
                            f"{contract.name}/{d}/{name}",
                            int(row - s + first_line),
                            orig_key[row] or "",
                        )
                    )
                    di += 1
                if cfg.defect_rate > 0 and file_rng.random() < cfg.defect_rate:
                    copy = folder / landing_file_name(contract, d, part=2)
                    copy.write_bytes(path.read_bytes())
                    files += 1
                    self.defects.append(("redelivered_file", contract.name, f"{contract.name}/{d}/{copy.name}", "", ""))
        if contract.delivers_daily:
            files += self.write_empty_days(contract)
        return files, rows

    def write_empty_days(self, contract: SourceContract) -> int:
        """A source that delivers daily sends a header-only file on a day without records."""
        if contract.format != "csv":
            raise NotImplementedError(f"{contract.name}: empty daily files are written for CSV sources only")
        written = 0
        for offset in range(self.config.days):
            d = (self.config.start + pd.Timedelta(days=offset)).isoformat()[:10]
            folder = self.landing / contract.name / d
            if folder.is_dir() and any(folder.iterdir()):
                continue
            folder.mkdir(parents=True, exist_ok=True)
            header = csv_header(contract) + "\n" if contract.header else ""
            (folder / landing_file_name(contract, d)).write_text(header, encoding="utf-8")
            written += 1
        return written


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n")


def _write_truth(
    truth: Path,
    config: SimulationConfig,
    people: People,
    orders: pd.DataFrame,
    writer: _SourceWriter,
    summary: SimulationSummary,
) -> None:
    p = people
    idx = np.arange(p.n)

    def opt_ts(t: np.ndarray) -> np.ndarray:
        out = ts(np.minimum(t, p.horizon_s))
        out[t >= p.horizon_s] = ""
        return out

    moved = p.move_t < p.horizon_s
    lapsed_at = dates(p.last_purchase_t)
    lapsed_at[~p.has_lapsed] = ""
    people_df = pd.DataFrame(
        {
            "person_id": person_ids(idx),
            "title": p.title,
            "first_name": p.first,
            "last_name": p.last,
            "gender": np.where(p.female, "F", "M"),
            "date_of_birth": np.datetime_as_string(p.dob),
            "email": p.email1,
            "email_2": p.email2,
            "email_changed_at": opt_ts(p.email_change_t),
            "phone": p.phone,
            "mobile": p.mobile,
            "landline": p.landline,
            "street_address": p.street[:, 0],
            "city": p.city[:, 0],
            "postcode": p.postcode[:, 0],
            "moved_at": opt_ts(p.move_t),
            "new_street_address": np.where(moved, p.street[:, 1], ""),
            "new_city": np.where(moved, p.city[:, 1], ""),
            "new_postcode": np.where(moved, p.postcode[:, 1], ""),
            "household_id": fmt_ids("H", p.household + 1, 7),
            "account_id": np.where(p.has_crm, p.account_id(idx), ""),
            "loyalty_id": np.where(p.has_card, p.loyalty_id(idx), ""),
            "web_account_id": np.where(p.has_web, p.web_id(idx), ""),
            "first_purchase_at": ts(p.t0),
            "last_purchase_at": ts(p.last_purchase_t),
            "n_purchases": p.n_purchases,
            "has_lapsed": np.where(p.has_lapsed, "true", "false"),
            "lapsed_at": lapsed_at,
            "purchase_rate_per_year": np.round(p.rate, 4),
            "dropout_probability": np.round(p.dropout_p, 4),
            "mean_spend": np.round(p.spend, 2),
        }
    )
    _write_csv(people_df, truth / "people.csv")

    recs = (
        pd.concat(writer.records, ignore_index=True)
        if writer.records
        else pd.DataFrame({"source": [], "key": [], "person": []})
    )
    recs = recs.drop_duplicates(["source", "key", "person"])
    order = {name: k for k, name in enumerate(SOURCES)}
    recs = recs.assign(o=recs["source"].map(order)).sort_values(["o", "key", "person"], kind="stable")
    _write_csv(
        pd.DataFrame(
            {
                "source": recs["source"].to_numpy(),
                "source_record_key": recs["key"].to_numpy(),
                "person_id": person_ids(recs["person"].to_numpy()),
            }
        ),
        truth / "source_records.csv",
    )

    web = orders["web"].to_numpy()
    keys = np.where(web, fmt_ids("O", orders["key"].to_numpy(), 8), fmt_ids("T", orders["key"].to_numpy(), 9))
    t = orders["t"].to_numpy()
    _write_csv(
        pd.DataFrame(
            {
                "person_id": person_ids(orders["person"].to_numpy()),
                "channel": np.where(web, "web", "store"),
                "source": np.where(web, "web_orders", "pos_transactions"),
                "source_key": keys,
                "purchased_at": ts(t),
                "amount": money(orders["amount"].to_numpy()),
                "in_landing": np.where(t < p.end_s, "true", "false"),
            }
        ),
        truth / "transactions.csv",
    )

    _write_csv(
        pd.DataFrame(writer.defects, columns=["defect_class", "source", "file", "line", "record_key"]),
        truth / "defects.csv",
    )
    (truth / "summary.json").write_text(
        json.dumps(
            {
                "config": config.as_dict(),
                **summary.counts(),
                "transactions": {"total": int(len(orders)), "in_landing": int((t < p.end_s).sum())},
                "households_shared": int((np.bincount(p.household, minlength=p.n) > 1).sum()),
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )


def simulate(config: SimulationConfig, out_dir: Path, progress: Progress | None = None) -> SimulationSummary:
    """Write out_dir/landing/<source>/<day>/<file> and out_dir/truth/*; deterministic for a config."""
    t_start = time.perf_counter()
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    landing, truth = out_dir / "landing", out_dir / "truth"
    for d in (landing, truth):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)

    pools = build_pools(config.seed, config.people)
    people = build_people(config, pools)
    say(f"people: {people.n} ({time.perf_counter() - t_start:.1f}s)")
    tables, orders = _tables(config, people, pools)
    say(f"event tables built ({time.perf_counter() - t_start:.1f}s)")

    summary = SimulationSummary(people=config.people)
    writer = _SourceWriter(config, people, Formatters(people, pools, config.seed), landing)
    for name, contract in SOURCES.items():
        files, rows = writer.write(contract, tables[name])
        summary.files[name] = files
        summary.rows[name] = rows
        say(f"{name:24s} {rows:>10,d} rows in {files:>5,d} files ({time.perf_counter() - t_start:.1f}s)")
    counts = pd.Series([d[0] for d in writer.defects], dtype=object).value_counts()
    summary.defects = {c: int(counts.get(c, 0)) for c in DEFECT_CLASSES}
    _write_truth(truth, config, people, orders, writer, summary)
    summary.seconds = time.perf_counter() - t_start
    return summary

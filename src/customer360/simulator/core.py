"""simulate(): build the world, write each source's landing files day by day, streaming the truth beside them."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from customer360.ingestion.contracts import IDENTITY_KEY_COLUMNS, SOURCES, SourceContract, landing_file_name
from customer360.simulator import events
from customer360.simulator.config import SimulationConfig, SimulationSummary
from customer360.simulator.defects import DEFECT_CLASSES, inject_rows
from customer360.simulator.formatters import Formatters
from customer360.simulator.pools import Pools, build_pools
from customer360.simulator.population import DAY, People, build_people
from customer360.simulator.truth import (
    Defect,
    DefectLog,
    SourceRecords,
    write_people,
    write_summary,
    write_transactions,
)
from customer360.simulator.writer import csv_header, csv_lines, jsonl_lines, write_parquet, write_text

CHUNK_DAYS = 31

Progress = Callable[[str], None]


def _source_seed(name: str) -> int:
    return sum((k + 1) * ord(ch) for k, ch in enumerate(name))


def _table_rng(config: SimulationConfig, k: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, 3, k])


# What the follow-ups of a purchase (web sessions, surveys, registrations) read of the orders.
_FOLLOW_UP_COLUMNS = ["t", "person", "web", "sku0"]


def _event_tables(
    config: SimulationConfig, people: People, pools: Pools, landed: pd.DataFrame
) -> Iterator[tuple[str, pd.DataFrame]]:
    """The event table of each source in SOURCES order, built only when the previous one is written.

    One table at a time keeps the peak memory to the largest table (e-mail events) instead of
    the sum of all eight. Each table has its own random stream, so the order does not change them.
    `landed` are the orders of the landing period; this generator owns it and slims it once the
    order sources are written.
    """
    yield "crm_accounts", events.crm_rows(people)
    yield "pos_transactions", landed[~landed["web"]].reset_index(drop=True)
    yield "web_orders", landed[landed["web"]].reset_index(drop=True)
    landed = landed[_FOLLOW_UP_COLUMNS]
    yield "web_events", events.web_events(people, landed, _table_rng(config, 2))
    yield "call_center_contacts", events.calls(people, _table_rng(config, 3))
    yield "email_campaign_events", events.campaign_events(people, _table_rng(config, 4))
    yield "surveys", events.after_purchases(people, landed, _table_rng(config, 5), p=0.05, mean_delay_days=3)
    yield (
        "product_registrations",
        events.after_purchases(
            people, landed, _table_rng(config, 6), p=0.08, mean_delay_days=7, min_price=2500, pools=pools
        ),
    )


class _SourceWriter:
    def __init__(
        self,
        config: SimulationConfig,
        people: People,
        fmt: Formatters,
        landing: Path,
        records: SourceRecords,
        defect_log: DefectLog,
    ) -> None:
        self.config, self.people, self.fmt, self.landing = config, people, fmt, landing
        self.records, self.defect_log = records, defect_log
        self.defects: list[Defect] = []  # the current chunk's, until it is written to defect_log

    def write(self, contract: SourceContract, df: pd.DataFrame) -> tuple[int, int]:
        cfg, p = self.config, self.people
        sseed = _source_seed(contract.name)
        defect_rng = np.random.default_rng([cfg.seed, 5, sseed])
        file_rng = np.random.default_rng([cfg.seed, 6, sseed])
        day = ((df["t"].to_numpy() - p.start_s) // DAY).astype(np.int64)
        bounds = np.searchsorted(day, np.arange(0, cfg.days + 1, CHUNK_DAYS).tolist() + [cfg.days])
        files = rows = 0
        for c in range(len(bounds) - 1):
            a, b = int(bounds[c]), int(bounds[c + 1])
            if b > a:
                chunk_files, chunk_rows = self._write_chunk(contract, df.iloc[a:b], day[a:b], c, defect_rng, file_rng)
                files += chunk_files
                rows += chunk_rows
        if contract.delivers_daily:
            files += self.write_empty_days(contract)
        return files, rows

    def _write_chunk(
        self,
        contract: SourceContract,
        chunk: pd.DataFrame,
        cday: np.ndarray,
        c: int,
        defect_rng: np.random.Generator,
        file_rng: np.random.Generator,
    ) -> tuple[int, int]:
        """Chunk `c` of a source (up to CHUNK_DAYS days): one file per day; its strings are freed on return."""
        cfg = self.config
        cols = self.fmt.get(contract.name)(chunk, self.fmt.rng(contract.name, c))
        assert list(cols) == contract.column_names, contract.name
        orig_key = cols[contract.key].copy()
        found, extra = inject_rows(contract, cols, defect_rng, cfg.defect_rate)
        person = chunk["person"].to_numpy()
        keys = cols[IDENTITY_KEY_COLUMNS[contract.name]]
        ok = (person >= 0) & pd.notna(keys)
        self.records.add(contract.name, keys[ok], person[ok])
        if contract.format == "csv":
            lines = csv_lines(contract, cols, extra)
        elif contract.format == "jsonl":
            lines = jsonl_lines(contract, cols)
        else:
            lines = None
        starts = np.flatnonzero(np.r_[True, cday[1:] != cday[:-1]])
        ends = np.r_[starts[1:], cday.size]
        defect_rows = sorted(found)
        di = 0
        files = rows = 0
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
        # written now: a defect keeps its record key, and keys kept from every chunk pin freed memory
        self.defect_log.write(self.defects)
        self.defects = []
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
    orders = events.purchases(people, pools, _table_rng(config, 1))  # also sets the people's purchase history
    transactions = write_transactions(truth / "transactions.csv", people, orders)
    tables = _event_tables(config, people, pools, landed=orders[orders["t"] < people.end_s])
    del orders  # the truth transactions are written; only the landed orders are still needed
    say(f"purchases: {transactions['total']:,d} ({time.perf_counter() - t_start:.1f}s)")

    summary = SimulationSummary(people=config.people)
    records = SourceRecords(truth / "source_records.csv")
    defect_log = DefectLog(truth / "defects.csv")
    writer = _SourceWriter(config, people, Formatters(people, pools, config.seed), landing, records, defect_log)
    for name, table in tables:
        files, rows = writer.write(SOURCES[name], table)
        del table  # before the next table is built
        summary.files[name] = files
        summary.rows[name] = rows
        say(f"{name:24s} {rows:>10,d} rows in {files:>5,d} files ({time.perf_counter() - t_start:.1f}s)")
    if list(summary.files) != list(SOURCES):
        raise RuntimeError(f"event tables were built for {list(summary.files)}, not for every source in order")
    records.close()
    defect_log.close()
    summary.defects = {c: defect_log.counts.get(c, 0) for c in DEFECT_CLASSES}
    write_people(truth / "people.csv", people)
    write_summary(truth / "summary.json", config, people, summary, transactions)
    summary.seconds = time.perf_counter() - t_start
    return summary

"""The truth folder, written a piece at a time so that no truth table is ever whole in memory.

Every writer here appends pandas frames to one csv file; the bytes are those one `to_csv`
of the concatenated frames would give (pandas formats each value on its own).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd

from customer360.ingestion.contracts import SOURCES
from customer360.simulator.config import SimulationConfig, SimulationSummary
from customer360.simulator.formatters import dates, money, ts
from customer360.simulator.population import People, fmt_ids

# Rows per piece: big enough for vectorised formatting, small enough to stay tens of MB.
PEOPLE_PER_PIECE = 100_000
TRANSACTIONS_PER_PIECE = 500_000

DEFECT_COLUMNS = ("defect_class", "source", "file", "line", "record_key")
Defect = tuple[str, str, str, int | str, str]


def person_ids(idx: np.ndarray) -> np.ndarray:
    return fmt_ids("P", np.asarray(idx) + 1, 7)


class CsvStream:
    """One csv file written frame by frame: the header first, then each frame's rows."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self._file = path.open("w", encoding="utf-8", newline="")
        self._file.write(",".join(self.columns) + "\n")

    def write(self, frame: pd.DataFrame) -> None:
        if list(frame.columns) != self.columns:
            raise ValueError(f"{self._file.name}: columns {list(frame.columns)}, expected {self.columns}")
        if len(frame):
            frame.to_csv(self._file, index=False, header=False, lineterminator="\n")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CsvStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class DefectLog:
    """truth/defects.csv, written a source at a time; keeps only the count per class."""

    def __init__(self, path: Path) -> None:
        self._csv = CsvStream(path, DEFECT_COLUMNS)
        self.counts: Counter[str] = Counter()

    def write(self, defects: list[Defect]) -> None:
        self.counts.update(d[0] for d in defects)
        self._csv.write(pd.DataFrame(defects, columns=list(DEFECT_COLUMNS)))

    def close(self) -> None:
        self._csv.close()


class SourceRecords:
    """truth/source_records.csv: the (key, person) pairs of one source at a time, deduplicated and sorted.

    Sources arrive in `SOURCES` order and the file is sorted by that order first, so each
    source's block can be written (and forgotten) as soon as the source is done.
    """

    def __init__(self, path: Path) -> None:
        self._csv = CsvStream(path, ("source", "source_record_key", "person_id"))
        self._order = list(SOURCES)
        self._source: str | None = None
        self._pairs = pd.DataFrame({"key": pd.Series(dtype=object), "person": pd.Series(dtype=np.int64)})

    def add(self, source: str, keys: np.ndarray, person: np.ndarray) -> None:
        if source != self._source:
            self.finish_source()
            self._check_order(source)
            self._source = source
        chunk = pd.DataFrame({"key": keys, "person": person})
        # deduplicated as they come: a source repeats the same pairs in every chunk (e-mails each month)
        self._pairs = pd.concat([self._pairs, chunk], ignore_index=True).drop_duplicates(ignore_index=True)

    def finish_source(self) -> None:
        if self._source is None:
            return
        pairs = self._pairs.sort_values(["key", "person"], kind="stable")
        self._csv.write(
            pd.DataFrame(
                {
                    "source": self._source,
                    "source_record_key": pairs["key"].to_numpy(),
                    "person_id": person_ids(pairs["person"].to_numpy()),
                }
            )
        )
        self._source = None
        self._pairs = self._pairs.iloc[:0]

    def _check_order(self, source: str) -> None:
        if source not in self._order:
            raise ValueError(f"{source}: not a source of the contracts, or given twice or out of SOURCES order")
        self._order = self._order[self._order.index(source) + 1 :]

    def close(self) -> None:
        self.finish_source()
        self._csv.close()


def write_transactions(path: Path, people: People, orders: pd.DataFrame) -> dict[str, int]:
    """truth/transactions.csv, every purchase of the horizon; returns the counts for the summary."""
    in_landing = 0
    with CsvStream(path, TRANSACTION_COLUMNS) as out:
        for a in range(0, len(orders), TRANSACTIONS_PER_PIECE):
            piece = orders.iloc[a : a + TRANSACTIONS_PER_PIECE]
            out.write(_transactions_frame(people, piece))
            in_landing += int((piece["t"].to_numpy() < people.end_s).sum())
    return {"total": len(orders), "in_landing": in_landing}


TRANSACTION_COLUMNS = ("person_id", "channel", "source", "source_key", "purchased_at", "amount", "in_landing")


def _transactions_frame(people: People, orders: pd.DataFrame) -> pd.DataFrame:
    web = orders["web"].to_numpy()
    key = orders["key"].to_numpy()
    t = orders["t"].to_numpy()
    return pd.DataFrame(
        {
            "person_id": person_ids(orders["person"].to_numpy()),
            "channel": np.where(web, "web", "store"),
            "source": np.where(web, "web_orders", "pos_transactions"),
            "source_key": np.where(web, fmt_ids("O", key, 8), fmt_ids("T", key, 9)),
            "purchased_at": ts(t),
            "amount": money(orders["amount"].to_numpy()),
            "in_landing": np.where(t < people.end_s, "true", "false"),
        }
    )


def write_people(path: Path, people: People) -> None:
    """truth/people.csv, PEOPLE_PER_PIECE people at a time."""
    with CsvStream(path, PEOPLE_COLUMNS) as out:
        for a in range(0, people.n, PEOPLE_PER_PIECE):
            out.write(_people_frame(people, np.arange(a, min(a + PEOPLE_PER_PIECE, people.n))))


PEOPLE_COLUMNS = (
    "person_id",
    "title",
    "first_name",
    "last_name",
    "gender",
    "date_of_birth",
    "email",
    "email_2",
    "email_changed_at",
    "phone",
    "mobile",
    "landline",
    "street_address",
    "city",
    "postcode",
    "moved_at",
    "new_street_address",
    "new_city",
    "new_postcode",
    "household_id",
    "account_id",
    "loyalty_id",
    "web_account_id",
    "first_purchase_at",
    "last_purchase_at",
    "n_purchases",
    "has_lapsed",
    "lapsed_at",
    "purchase_rate_per_year",
    "dropout_probability",
    "mean_spend",
)


def _people_frame(p: People, idx: np.ndarray) -> pd.DataFrame:
    def opt_ts(t: np.ndarray) -> np.ndarray:
        out = ts(np.minimum(t, p.horizon_s))
        out[t >= p.horizon_s] = ""
        return out

    moved = p.move_t[idx] < p.horizon_s
    lapsed_at = dates(p.last_purchase_t[idx])
    lapsed_at[~p.has_lapsed[idx]] = ""
    columns = [
        person_ids(idx),
        p.title[idx],
        p.first[idx],
        p.last[idx],
        np.where(p.female[idx], "F", "M"),
        np.datetime_as_string(p.dob[idx]),
        p.email1[idx],
        p.email2[idx],
        opt_ts(p.email_change_t[idx]),
        p.phone[idx],
        p.mobile[idx],
        p.landline[idx],
        p.street[idx, 0],
        p.city[idx, 0],
        p.postcode[idx, 0],
        opt_ts(p.move_t[idx]),
        np.where(moved, p.street[idx, 1], ""),
        np.where(moved, p.city[idx, 1], ""),
        np.where(moved, p.postcode[idx, 1], ""),
        fmt_ids("H", p.household[idx] + 1, 7),
        np.where(p.has_crm[idx], p.account_id(idx), ""),
        np.where(p.has_card[idx], p.loyalty_id(idx), ""),
        np.where(p.has_web[idx], p.web_id(idx), ""),
        ts(p.t0[idx]),
        ts(p.last_purchase_t[idx]),
        p.n_purchases[idx],
        np.where(p.has_lapsed[idx], "true", "false"),
        lapsed_at,
        np.round(p.rate[idx], 4),
        np.round(p.dropout_p[idx], 4),
        np.round(p.spend[idx], 2),
    ]
    return pd.DataFrame(dict(zip(PEOPLE_COLUMNS, columns)))


def write_summary(
    path: Path, config: SimulationConfig, people: People, summary: SimulationSummary, transactions: dict[str, int]
) -> None:
    path.write_text(
        json.dumps(
            {
                "config": config.as_dict(),
                **summary.counts(),
                "transactions": transactions,
                "households_shared": int((np.bincount(people.household, minlength=people.n) > 1).sum()),
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )

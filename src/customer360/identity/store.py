"""The identity schema: its tables, and reading and writing them."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from customer360.db import tables

INPUT_TABLE = "intermediate.int_source_records"


INPUT_COLUMNS: tuple[str, ...] = (
    "source",
    "source_record_key",
    "account_id",
    "loyalty_id",
    "web_account_id",
    "email_normalised",
    "previous_email_normalised",
    "phone_normalised",
    "first_name_normalised",
    "first_name_canonical",
    "last_name_normalised",
    "postcode_normalised",
    "date_of_birth",
)
# Old inputs (before first_name_canonical) still resolve: missing optional columns read as null.
OPTIONAL_COLUMNS = ("first_name_canonical", "previous_email_normalised", "postcode_normalised", "date_of_birth")


def ensure_identity_tables(conn) -> None:
    tables.create(conn, tables.IDENTITY)


def read_frame(conn, query: str, params: Sequence | None = None) -> pd.DataFrame:
    cur = conn.execute(query, params)
    columns = [d.name for d in cur.description]
    return pd.DataFrame(cur.fetchall(), columns=columns, dtype="object")


def read_records(conn) -> pd.DataFrame:
    present = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'intermediate' and table_name = 'int_source_records'"
        ).fetchall()
    }
    select = ", ".join(c if c in present or c not in OPTIONAL_COLUMNS else f"null as {c}" for c in INPUT_COLUMNS)
    frame = read_frame(conn, f"select {select} from {INPUT_TABLE} order by source, source_record_key")
    if frame["first_name_canonical"].isna().all():
        frame["first_name_canonical"] = frame["first_name_normalised"]
    return frame


def read_previous(conn) -> pd.DataFrame:
    return read_frame(
        conn,
        "select source, source_record_key, customer_id, matched_by, match_key_hash from identity.customer_source_xref",
    )


def read_decisions(conn) -> pd.DataFrame:
    return read_frame(
        conn,
        "select left_source, left_source_record_key, right_source, right_source_record_key, decision "
        "from identity.steward_decisions order by decided_at, decision_id",
    )


def latest_model(conn) -> str | None:
    row = conn.execute(
        "select model::text from identity.match_models order by trained_at desc, run_id desc limit 1"
    ).fetchone()
    return row[0] if row else None


def copy_rows(conn, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    with conn.cursor().copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row(row)


def copy_columns(conn, table: str, columns: Mapping[str, np.ndarray], *, batch_rows: int = 200_000) -> None:
    """COPY equal-length columns (name -> values) into `table` as CSV written by Arrow, in batches.

    Arrow quotes every string, so an empty string stays one and a missing value (unquoted, empty)
    arrives as null. Far faster than a write_row per row for the million rows of a full run.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    data = pa.table({name: pa.array(values, from_pandas=True) for name, values in columns.items()})
    with conn.cursor().copy(f"copy {table} ({', '.join(columns)}) from stdin (format csv)") as copy:
        for batch in data.to_batches(max_chunksize=batch_rows):
            buffer = io.BytesIO()
            pa_csv.write_csv(batch, buffer, options)
            copy.write(buffer.getbuffer())

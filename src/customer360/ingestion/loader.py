"""Load landed files into raw.<source> with COPY, one transaction per file.

    report = load_interval(settings, date(2024, 1, 1), date(2024, 2, 1), batch_id=run_id)
    report.raise_if_rejected()   # the caller decides whether a rejected file fails the task

Per file, in one transaction: the file is parsed as a stream, each row is
checked against its contract, good rows are COPYed to raw.<source>, bad rows
to quarantine.<source> with a reason, and the manifest row (keyed by the
file's sha256) is written. Bytes already in ops.file_manifest make the file a
logged no-op: a file name seen before is hashed first and skipped unread; a
new name is hashed as it loads, and if its bytes are known its rows roll back.

Files are read in Arrow batches and checked a column at a time
(`customer360.ingestion.columnar`); a file that path cannot vouch for is rolled back to a
savepoint and read row by row (`customer360.ingestion.readers`), with the same result. A
file-level problem (no header, required column missing, unreadable file, any
error while loading) rolls that file back, is recorded in ops.ingest_log as
'rejected', and the run goes on with the next file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import re
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from customer360.config import Settings
from customer360.db.connection import connect, qualified
from customer360.ingestion import columnar, direct
from customer360.ingestion.contracts import LANDING_DAY_FORMAT, SOURCES, SourceContract, get_source
from customer360.ingestion.readers import FileProblem, check_text_encoding, open_reader
from customer360.ingestion.report import IngestReport, RejectedFile, SourceReport, name_list
from customer360.ingestion.tables import BATCH_SETTINGS, QUARANTINE_COPY_COLUMNS, RAW_COPY_METADATA, ensure_tables
from customer360.ingestion.validation import RowValidator, printable_raw, summarize
from customer360.privacy import suppression

log = logging.getLogger(__name__)

QUARANTINE_FLUSH_ROWS = 5000  # bad rows buffered before the raw COPY pauses to write them
LOG_FLUSH_ROWS = 500  # queued duplicate/rejected log rows written in one go
HASH_CHUNK = 1 << 20
SKIPPED_NAME_PREFIXES = (".", "_")  # hidden files, _SUCCESS markers
SKIPPED_NAME_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")  # files still being written


@dataclass
class FileOutcome:
    rows_in_file: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_suppressed: int = 0  # rows of erased people, dropped (customer360.privacy.suppression)
    extra_columns: frozenset[str] = frozenset()
    missing_columns: tuple[str, ...] = ()
    replaced: str | None = None  # what this file replaced (a changed re-delivery), or None

    def message(self) -> str:
        parts = [f"loaded {self.rows_loaded} of {self.rows_in_file} rows, quarantined {self.rows_quarantined}"]
        if self.replaced:
            parts.append(self.replaced)
        if self.rows_suppressed:
            parts.append(f"dropped {self.rows_suppressed} row(s) of erased people (suppression list)")
        if self.extra_columns:
            parts.append("undeclared columns kept in _extra: " + name_list(self.extra_columns))
        if self.missing_columns:
            parts.append("optional columns absent: " + ", ".join(self.missing_columns))
        return "; ".join(parts)


class _Duplicate(Exception):
    pass


class _NotDirect(Exception):
    """The direct path could not load the file (the reason, without values); its transaction is rolled back."""


class _BoundedQueuedWriter(QueuedLibpqWriter):
    """psycopg's queued COPY writer with a short queue.

    Its own queue lets the client run 1024 buffers (about 128 MB) ahead of the
    server; 64 (about 8 MB) keep the server busy and the loader's memory small.
    """

    def __init__(self, cursor: psycopg.Cursor):
        super().__init__(cursor)
        self._queue = queue.Queue(maxsize=64)  # type: ignore[assignment]  # psycopg's own alias of this class


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def landing_files(landing_dir: Path, contract: SourceContract, start: date, end: date) -> Iterator[tuple[date, Path]]:
    """(day, path) of every landed entry of a source whose day folder is in [start, end), in order.

    Links and other entries that are not regular files are yielded too, unfollowed, so that the
    loader refuses each by name (`refused_entry`): a source or day folder that is a link is
    yielded itself, never entered.
    """
    source_dir = Path(landing_dir) / contract.name
    if source_dir.is_symlink():
        yield start, source_dir
        return
    if not source_dir.is_dir():
        return
    day = start
    while day < end:
        day_dir = source_dir / day.strftime(LANDING_DAY_FORMAT)
        if day_dir.is_symlink():
            yield day, day_dir
        elif day_dir.is_dir():
            with os.scandir(day_dir) as entries:
                names = sorted(
                    e.name
                    for e in entries
                    if not e.name.startswith(SKIPPED_NAME_PREFIXES) and not e.name.endswith(SKIPPED_NAME_SUFFIXES)
                )
            for name in names:
                yield day, day_dir / name
        day += timedelta(days=1)


def refused_entry(path: Path) -> str | None:
    """Why a landing entry is refused without being opened, or None for a regular file.

    A link is never followed, wherever it points: a partner's link to a system file must not
    end up in a table stewards read. (A link inside the landing folder is refused as well: the
    same file can be delivered itself.)
    """
    try:
        mode = os.lstat(path).st_mode
    except OSError as e:
        return f"cannot read file: {e.strerror or e}"
    if stat.S_ISLNK(mode):
        return (
            "a symbolic link, not a file: links are never followed out of the landing folder; deliver the file itself"
        )
    if stat.S_ISDIR(mode):
        return "a folder where a file should be: deliver files directly in the day folder"
    if not stat.S_ISREG(mode):
        return "not a regular file (a pipe, socket or device): deliver a plain file"
    return None


def landing_name(contract: SourceContract, day: date, path: Path) -> str:
    """The entry's name as messages show it: <source>/<day>/<file>, or the folder itself."""
    day_name = day.strftime(LANDING_DAY_FORMAT)
    if path.parent.name == day_name and path.parent.parent.name == contract.name:
        return f"{contract.name}/{day_name}/{path.name}"
    if path.name == day_name and path.parent.name == contract.name:
        return f"{contract.name}/{day_name}/"
    return f"{contract.name}/"


# A day's delivery may hold events up to the end of the next day (time zones, late closing);
# anything later cannot have happened yet when the file was written.
FUTURE_GRACE = timedelta(days=2)


def latest_event_time(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + FUTURE_GRACE


def default_batch_id() -> str:
    return "manual__" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "_" + uuid.uuid4().hex[:6]


def load_interval(
    settings: Settings,
    start: date,
    end: date,
    sources: list[str] | None = None,
    *,
    batch_id: str | None = None,
    landing_dir: Path | None = None,
) -> IngestReport:
    """Load every landed file whose day folder is in [start, end) for each source (all by default).

    Never raises for a bad file: rejected files are in the report (see
    `IngestReport.raise_if_rejected`). Raises for bad arguments and for a lost
    database connection.
    """
    if not start < end:
        raise ValueError(f"start {start} must be before end {end} (the interval is [start, end))")
    contracts = [get_source(s) for s in (sources or list(SOURCES))]
    batch_id = batch_id or default_batch_id()
    landing = Path(landing_dir) if landing_dir is not None else settings.landing_dir
    report = IngestReport(batch_id=batch_id, start=start, end=end)
    t0 = time.perf_counter()
    with connect(settings, autocommit=True) as conn:
        conn.execute("set timezone = 'UTC'")  # each source's files are read in its zone (_source_zone)
        ensure_tables(conn)
        loader = _FileLoader(conn, batch_id, suppression.load(conn))
        try:
            for contract in contracts:
                src = report.source(contract.name)
                loader.prefetch_manifest(contract, start, end)
                _source_zone(conn, contract)
                for day, path in landing_files(landing, contract, start, end):
                    loader.load_file(contract, day, path, src)
                loader.flush_log()
                log.info(
                    "%s: %d file(s) loaded, %d duplicate(s) skipped, %d rejected; %d row(s) loaded, %d quarantined"
                    ", %d suppressed",
                    contract.name,
                    src.files_loaded,
                    src.duplicates_skipped,
                    src.files_rejected,
                    src.rows_loaded,
                    src.rows_quarantined,
                    src.rows_suppressed,
                )
        finally:
            if not conn.broken and not conn.closed:
                loader.flush_log()
    report.seconds = time.perf_counter() - t0
    log.info(
        "ingest batch %s done in %.1fs: %d file(s) loaded, %d duplicate(s), %d rejected, %d row(s), %d quarantined",
        batch_id,
        report.seconds,
        report.files_loaded,
        report.duplicates_skipped,
        len(report.rejected_files),
        report.rows_loaded,
        report.rows_quarantined,
    )
    return report


_QUOTED = re.compile(r'"[^"]*"')


def _db_error_message(e: psycopg.Error) -> str:
    """A database error without quoted values (COPY errors quote the offending value)."""
    primary = (e.diag.message_primary if e.diag else None) or str(e).splitlines()[0]
    return f"database error {e.sqlstate or ''}: {_QUOTED.sub('<value>', primary)}".strip()


def _source_zone(conn: psycopg.Connection, contract: SourceContract) -> None:
    """The one place a source time without an offset becomes UTC: COPY reads it in the source's zone.

    Every load path hands such times to COPY as written (a time with an offset keeps it). The
    zone is set for the session, before the source's files: once per source, not a statement
    per file (nothing else the loader writes depends on the session's zone).
    """
    conn.execute(sql.SQL("set timezone = {}").format(sql.Literal(contract.timezone)))


def _fails_the_task(e: psycopg.Error) -> bool:
    """A lock wait that timed out is the warehouse's problem, not the file's: the task fails and is retried."""
    return isinstance(e, psycopg.errors.LockNotAvailable)


def _copy_out(cur: psycopg.Cursor, statement: sql.Composed, rows: list) -> None:
    """A small batch of Python rows through one COPY (quarantine rows, rows accepted on second look)."""
    with cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _flush_held(
    cur: psycopg.Cursor, statements: tuple[sql.Composed, sql.Composed], accepted: list, held: list, outcome: FileOutcome
) -> None:
    """Write the rows a checked path kept back (accepted on second look, quarantined) and count them."""
    copy_raw, copy_quarantine = statements
    if accepted:
        _copy_out(cur, copy_raw, accepted)
        outcome.rows_loaded += len(accepted)
        accepted.clear()
    if held:
        _copy_out(cur, copy_quarantine, held)
        outcome.rows_quarantined += len(held)
        held.clear()


class _FileLoader:
    def __init__(
        self, conn: psycopg.Connection, batch_id: str, suppressions: suppression.Suppressions = suppression.EMPTY
    ):
        self.conn = conn
        self.batch_id = batch_id
        self.suppressions = suppressions  # erased people: their rows are dropped and counted, never logged
        self._suppressed = 0  # rows dropped in the current file (columnar path)
        self._copy_sql: dict[str, tuple[sql.Composed, sql.Composed]] = {}
        self._pending_log: list[tuple] = []
        self._known: dict[str, tuple] = {}
        self._known_names: set[tuple[date, str]] = set()  # (day, file name) of this source's loaded files

    def _statements(self, contract: SourceContract) -> tuple[sql.Composed, sql.Composed]:
        if contract.name not in self._copy_sql:
            raw_cols = [*contract.column_names, *RAW_COPY_METADATA]
            self._copy_sql[contract.name] = (
                sql.SQL("copy {} ({}) from stdin").format(
                    qualified("raw", contract.name), sql.SQL(", ").join(map(sql.Identifier, raw_cols))
                ),
                sql.SQL("copy {} ({}) from stdin").format(
                    qualified("quarantine", contract.name),
                    sql.SQL(", ").join(map(sql.Identifier, QUARANTINE_COPY_COLUMNS)),
                ),
            )
        return self._copy_sql[contract.name]

    def load_file(self, contract: SourceContract, day: date, path: Path, src: SourceReport) -> None:
        rel = landing_name(contract, day, path)
        refusal = refused_entry(path)
        if refusal is not None:  # never opened: not even hashed
            self._reject(contract, day, path, rel, None, src, refusal, unread=True)
            return
        expected_ext = "." + contract.file_extension
        if not path.name.endswith(expected_ext):
            self._reject(
                contract,
                day,
                path,
                rel,
                None,
                src,
                f"unexpected file type: {contract.name} files are {contract.format} named *{expected_ext}",
            )
            return
        checksum = None
        changed = False
        if (day, path.name) in self._known_names:  # loaded before under this name: the same bytes again?
            try:
                checksum = sha256_file(path)
            except OSError as e:
                self._reject(contract, day, path, rel, None, src, f"cannot read file: {e.strerror or e}")
                return
            prior = self._known.get(checksum)
            if prior is not None:
                self._duplicate(contract, day, path, rel, checksum, src, prior)
                return
            changed = True  # new bytes under a known name: a corrected re-delivery
        # A new name is hashed while it loads; the same bytes under a new name are then
        # caught when the manifest row is written, and the file's rows roll back.
        direct_first = True
        try:
            while True:
                try:
                    with self.conn.transaction():
                        replaced = self._supersede(contract, day, path.name) if changed else None
                        outcome, checksum = self._load_rows(contract, path, day, rel, checksum, direct_first)
                        outcome.replaced = replaced
                        self._record_loaded(contract, day, path, checksum, outcome)
                    break
                except _NotDirect as e:  # its transaction rolled back: the file again, the other ways
                    log.debug("%s: not through the direct path (%s)", rel, e)
                    direct_first = False
        except _Duplicate:  # the same bytes were loaded before (or by a concurrent run)
            assert checksum is not None  # the manifest insert that raised it had one
            self._duplicate(contract, day, path, rel, checksum, src, self._manifest_entry(checksum))
            return
        except FileProblem as e:
            self._reject(contract, day, path, rel, checksum, src, str(e))
            return
        except OSError as e:
            self._reject(contract, day, path, rel, checksum, src, f"cannot read file: {e.strerror or e}")
            return
        except psycopg.Error as e:
            if self.conn.broken or _fails_the_task(e):
                raise
            self._reject(contract, day, path, rel, checksum, src, _db_error_message(e))
            return
        except Exception as e:  # noqa: BLE001 - any failure rejects this file only; the run goes on
            self._reject(contract, day, path, rel, checksum, src, f"load failed: {type(e).__name__}: {e}")
            return
        self._known[checksum] = (contract.name, day, path.name, self.batch_id)
        self._known_names.add((day, path.name))
        src.files_loaded += 1
        src.rows_loaded += outcome.rows_loaded
        src.rows_quarantined += outcome.rows_quarantined
        src.rows_suppressed += outcome.rows_suppressed
        src.extra_columns.update(outcome.extra_columns)
        src.missing_columns.update(outcome.missing_columns)
        src.files_replaced += outcome.replaced is not None
        noteworthy = outcome.rows_quarantined or outcome.extra_columns or outcome.replaced
        level = logging.WARNING if noteworthy else logging.INFO
        log.log(level, "%s: %s", rel, outcome.message())

    def _supersede(self, contract: SourceContract, day: date, file_name: str) -> str:
        """Remove the rows of the loaded version of (day, file_name), mark it superseded; say what was replaced.

        The policy for a changed re-delivery: the newer version replaces the older one (a partner
        re-sends a file to correct it). A version's rows are the raw and quarantine rows written in
        its load's transaction: same file name and batch, and `_loaded_at` / `_quarantined_at` equal
        to the manifest's `loaded_at` (all are that transaction's now()). Runs inside the new
        version's transaction, so a failed load leaves the old version in place.
        """
        old = self.conn.execute(
            """update ops.file_manifest set status = 'superseded'
               where source = %s and file_day = %s and file_name = %s and status = 'loaded'
               returning checksum, batch_id, loaded_at""",
            (contract.name, day, file_name),
        ).fetchall()
        raw_rows = quarantined = 0
        for _, batch_id, loaded_at in old:
            raw_rows += self.conn.execute(
                sql.SQL("delete from {} where _file_name = %s and _batch_id = %s and _loaded_at = %s").format(
                    qualified("raw", contract.name)
                ),
                (file_name, batch_id, loaded_at),
            ).rowcount
            quarantined += self.conn.execute(
                sql.SQL("delete from {} where _file_name = %s and _batch_id = %s and _quarantined_at = %s").format(
                    qualified("quarantine", contract.name)
                ),
                (file_name, batch_id, loaded_at),
            ).rowcount
        batches = ", ".join(sorted({b for _, b, _ in old})) or "an earlier batch"
        return (
            f"replaces the version loaded in {batches} (changed content under the same name): its {raw_rows} "
            f"raw and {quarantined} quarantined row(s) were removed"
        )

    def _record_loaded(
        self, contract: SourceContract, day: date, path: Path, checksum: str, outcome: FileOutcome
    ) -> None:
        """Write the manifest row and the log row in one statement; raise _Duplicate if the checksum is known.

        Runs at the end of the file's transaction. A concurrent run loading
        the same bytes makes the insert wait for its commit and then see the
        conflict: this file's rows roll back and it counts as a duplicate.
        """
        row = self.conn.execute(
            """
            with claimed as (
                insert into ops.file_manifest
                    (checksum, source, file_name, file_day, batch_id,
                     rows_in_file, rows_loaded, rows_quarantined, rows_suppressed, status)
                values (%(checksum)s, %(source)s, %(file_name)s, %(day)s, %(batch_id)s,
                        %(rows_in)s, %(loaded)s, %(quarantined)s, %(suppressed)s, 'loaded')
                on conflict (checksum) do nothing
                returning checksum
            ), logged as (
                insert into ops.ingest_log
                    (batch_id, source, file_name, file_day, checksum, status, message,
                     rows_in_file, rows_loaded, rows_quarantined)
                select %(batch_id)s, %(source)s, %(file_name)s, %(day)s, checksum, %(status)s, %(message)s,
                       %(rows_in)s, %(loaded)s, %(quarantined)s
                from claimed
                returning 1
            )
            select count(*) from logged
            """,
            {
                "checksum": checksum,
                "source": contract.name,
                "file_name": path.name,
                "day": day,
                "batch_id": self.batch_id,
                "rows_in": outcome.rows_in_file,
                "loaded": outcome.rows_loaded,
                "quarantined": outcome.rows_quarantined,
                "suppressed": outcome.rows_suppressed,
                "message": outcome.message(),
                "status": "loaded" if outcome.replaced is None else "replaced",
            },
        ).fetchone()
        if not row or row[0] == 0:
            raise _Duplicate()

    def _load_rows(
        self, contract: SourceContract, path: Path, day: date, rel: str, checksum: str | None, direct_first: bool
    ) -> tuple[FileOutcome, str]:
        """The direct path for a plain CSV file, the column-at-a-time path when it can vouch for the file,
        else row by row; and the file's sha256.

        The direct path is tried without a savepoint (two statements less per file): when it
        cannot load the file it raises _NotDirect, the file's transaction rolls back and
        `load_file` runs it again with `direct_first` False. Erased people's rows are dropped
        on the columnar path, so a suppression list sends csv files there.
        """
        check_text_encoding(contract, path)
        if (
            direct_first
            and columnar.fast_path_supported(contract)
            and direct.direct_path_supported(contract)
            and not self.suppressions
        ):
            hasher = hashlib.sha256()
            try:
                outcome = self._copy_direct(contract, path, day, hasher)
            except (columnar.FastPathUnavailable, psycopg.DataError) as e:
                if self.conn.broken:
                    raise
                raise _NotDirect(str(e) if isinstance(e, columnar.FastPathUnavailable) else type(e).__name__) from None
            return outcome, checksum or hasher.hexdigest()
        if columnar.fast_path_supported(contract):
            hasher = hashlib.sha256()
            try:
                with self.conn.transaction():  # a savepoint: a failed attempt leaves nothing behind
                    outcome = self._copy_columnar(contract, path, day, hasher)
                    return outcome, checksum or hasher.hexdigest()
            except (columnar.FastPathUnavailable, pa.ArrowException, UnicodeDecodeError, psycopg.DataError) as e:
                if self.conn.broken:
                    raise
                # No values in this message: Arrow and COPY errors quote the offending value.
                why = str(e) if isinstance(e, columnar.FastPathUnavailable) else type(e).__name__
                log.info("%s: reading row by row (%s)", rel, why)
        return self._copy_rows(contract, path, day), checksum or sha256_file(path)

    def _copy_direct(self, contract: SourceContract, path: Path, day: date, hasher) -> FileOutcome:
        """COPY a plain CSV file's own lines (`customer360.ingestion.direct`); suspects go through the row validator.

        Good lines stream through one COPY. Quarantined lines, and suspects the
        validator accepts, wait in memory until QUARANTINE_FLUSH_ROWS, when the
        COPY pauses to write them (as on the columnar path).
        """
        copy_raw, copy_quarantine = self._statements(contract)
        latest = latest_event_time(day)
        d = contract.delimiter
        plain = direct.PlainCsv(contract, path, latest)
        # The batch and the file name come from the raw table's defaults (tables.BATCH_SETTINGS), set for
        # this file's transaction: the lines go to COPY with nothing but their number added.
        self.conn.execute(
            "select set_config(%s, %s, true), set_config(%s, %s, true)",
            (BATCH_SETTINGS["_batch_id"], self.batch_id, BATCH_SETTINGS["_file_name"], path.name),
        )
        copy_lines = sql.SQL("copy {} ({}) from stdin (format csv, delimiter {})").format(
            qualified("raw", contract.name),
            sql.SQL(", ").join(map(sql.Identifier, ["_line_number", *plain.file_columns])),
            sql.Literal(d),
        )
        validator = RowValidator(contract, latest_event_at=latest)
        index = plain.plan.index
        outcome = FileOutcome(missing_columns=tuple(plain.plan.missing_columns))
        held: list[tuple] = []  # quarantine rows
        accepted: list[list] = []  # suspects the row validator accepts (typed values)
        blocks = plain.blocks(hasher)
        # The queued writer overlaps reading with sending; for a file of one block it only costs a thread.
        threaded = path.stat().st_size > columnar.BLOCK_BYTES
        with self.conn.cursor() as cur:
            finished = False
            while not finished:
                finished = True
                with cur.copy(copy_lines, writer=_BoundedQueuedWriter(cur) if threaded else None) as copy:
                    for block in blocks:
                        screened = plain.screen(block)
                        if screened.good:
                            copy.write(screened.rows)
                        outcome.rows_in_file += screened.records
                        outcome.rows_loaded += screened.good
                        held.extend(
                            (self.batch_id, path.name, line, p.code, p.reason, raw)
                            for line, p, raw in screened.problems
                        )
                        for line, text in screened.suspects:
                            fields = text.split(d)
                            typed, problems = validator.convert([fields[i] if i is not None else None for i in index])
                            if typed is None:
                                p = summarize(problems)
                                held.append((self.batch_id, path.name, line, p.code, p.reason, printable_raw(text)))
                            else:
                                accepted.append([*typed, self.batch_id, path.name, line, None])
                        if len(held) + len(accepted) >= QUARANTINE_FLUSH_ROWS:
                            finished = False
                            break
                _flush_held(cur, (copy_raw, copy_quarantine), accepted, held, outcome)
        return outcome

    def _copy_columnar(self, contract: SourceContract, path: Path, day: date, hasher) -> FileOutcome:
        """Check and COPY a file batch by batch; only rows the vectorised checks flag go row by row.

        Good rows stream through one COPY (a writer thread sends while the next
        batch is parsed). Quarantined rows, and flagged rows the row validator
        accepts, wait in memory until QUARANTINE_FLUSH_ROWS, when the COPY
        pauses to write them.
        """
        copy_raw, copy_quarantine = self._statements(contract)
        copy_raw_csv = sql.SQL("{} (format csv)").format(copy_raw)
        names = [*contract.column_names, *RAW_COPY_METADATA]
        latest = latest_event_time(day)
        validator = RowValidator(contract, latest_event_at=latest)
        outcome = FileOutcome()
        extra_columns: set[str] = set()
        missing: tuple[str, ...] = ()
        held: list[tuple] = []  # quarantine rows
        accepted: list[list] = []  # flagged rows the row validator accepts (typed values)
        batches = columnar.BATCH_READERS[contract.format](contract, path, hasher)
        self._suppressed = 0
        with self.conn.cursor() as cur:
            finished = False
            while not finished:
                finished = True
                with cur.copy(copy_raw_csv, writer=_BoundedQueuedWriter(cur)) as copy:
                    for plan, batch in batches:
                        good = self._check_batch(contract, validator, latest, plan, batch, path.name, held, accepted)
                        if good is not None:
                            copy.write(columnar.csv_block(good, names))
                            outcome.rows_loaded += len(good[0])
                        outcome.rows_in_file += len(batch.lines) + len(batch.problems)
                        extra_columns.update(plan.extra_columns)
                        missing = tuple(plan.missing_columns)
                        if len(held) + len(accepted) >= QUARANTINE_FLUSH_ROWS:
                            finished = False
                            break
                _flush_held(cur, (copy_raw, copy_quarantine), accepted, held, outcome)
        outcome.extra_columns = frozenset(extra_columns)
        outcome.missing_columns = missing
        outcome.rows_suppressed = self._suppressed
        return outcome

    def _check_batch(
        self,
        contract: SourceContract,
        validator: RowValidator,
        latest: datetime,
        plan,
        batch: columnar.Batch,
        file_name: str,
        held: list[tuple],
        accepted: list[list],
    ) -> list[pa.Array] | None:
        """The batch's good rows as COPY columns (None if none); flagged rows go to `held` or `accepted`."""
        n = len(batch.lines)
        values = [batch.fields[i] if i is not None else pa.nulls(n, pa.string()) for i in plan.index]
        checked = columnar.check_columns(contract, values, latest, batch.may_hold_nul)
        extra = columnar.extra_json(contract, plan, batch)
        supp = self.suppressions
        if supp:
            dropped = supp.mask(contract, values)
            checked.suspect &= ~dropped
            self._suppressed += int(dropped.sum())
            batch_problems = [p for p in batch.problems if not supp.text_matches(contract, p[2])]
            self._suppressed += len(batch.problems) - len(batch_problems)
        else:
            dropped, batch_problems = None, batch.problems
        held.extend((self.batch_id, file_name, line, p.code, p.reason, raw) for line, p, raw in batch_problems)
        for r in np.flatnonzero(checked.suspect).tolist():
            line = int(batch.lines[r])
            typed, problems = validator.convert([v[r].as_py() for v in values])
            if typed is None:
                raw = columnar.raw_record(contract, batch, r)
                p = summarize(problems)
                held.append((self.batch_id, file_name, line, p.code, p.reason, printable_raw(raw)))
            else:
                accepted.append(
                    [*typed, self.batch_id, file_name, line, extra[r].as_py() if extra is not None else None]
                )
        good = ~checked.suspect if dropped is None else ~(checked.suspect | dropped)
        kept = int(good.sum())
        if not kept:
            return None
        mask = pa.array(good)
        return [v.filter(mask) for v in checked.values] + [
            pa.repeat(pa.scalar(self.batch_id, pa.string()), kept),
            pa.repeat(pa.scalar(file_name, pa.string()), kept),
            pa.array(batch.lines[good]),
            extra.filter(mask) if extra is not None else pa.nulls(kept, pa.string()),
        ]

    def _copy_rows(self, contract: SourceContract, path: Path, day: date) -> FileOutcome:
        copy_raw, copy_quarantine = self._statements(contract)
        reader = open_reader(contract, path)
        try:
            validator = RowValidator(contract, latest_event_at=latest_event_time(day))
            convert = validator.convert
            batch_id, file_name = self.batch_id, path.name
            raw_text = reader.raw_text
            rows_in = loaded = suppressed = 0
            held: list[tuple] = []
            quarantined = 0
            supp = self.suppressions
            records = reader.records()
            with self.conn.cursor() as cur:
                finished = False
                while not finished:
                    finished = True
                    with cur.copy(copy_raw) as copy:
                        write_row = copy.write_row
                        for line_no, values, extra, problem, raw in records:
                            rows_in += 1
                            if supp and (
                                supp.row_matches(contract, values)
                                if problem is None
                                else supp.text_matches(contract, raw_text(raw))
                            ):
                                suppressed += 1
                                continue
                            if problem is None:
                                typed, problems = convert(values)
                                if typed is not None:
                                    typed.append(batch_id)
                                    typed.append(file_name)
                                    typed.append(line_no)
                                    typed.append(json.dumps(extra, ensure_ascii=False, default=str) if extra else None)
                                    write_row(typed)
                                    loaded += 1
                                    continue
                                problem = summarize(problems)
                            held.append(
                                (
                                    batch_id,
                                    file_name,
                                    line_no,
                                    problem.code,
                                    problem.reason,
                                    printable_raw(raw_text(raw)),
                                )
                            )
                            if len(held) >= QUARANTINE_FLUSH_ROWS:
                                finished = False
                                break
                    if held:
                        _copy_out(cur, copy_quarantine, held)
                        quarantined += len(held)
                        held.clear()
            return FileOutcome(
                rows_in_file=rows_in,
                rows_loaded=loaded,
                rows_quarantined=quarantined,
                rows_suppressed=suppressed,
                extra_columns=frozenset(reader.extra_columns),
                missing_columns=tuple(reader.missing_columns),
            )
        finally:
            reader.close()

    def _log(
        self, contract: SourceContract, day: date, path: Path, checksum: str | None, status: str, message: str
    ) -> None:
        """Queue an ops.ingest_log row for a file that loaded nothing (duplicate or rejected).

        Queued rows are written together by `flush_log` (one commit instead of
        one per file: a rerun over thousands of known files stays cheap).
        """
        self._pending_log.append((self.batch_id, contract.name, path.name, day, checksum, status, message))
        if len(self._pending_log) >= LOG_FLUSH_ROWS:
            self.flush_log()

    def flush_log(self) -> None:
        if not self._pending_log:
            return
        with self.conn.transaction(), self.conn.cursor() as cur:
            with cur.copy(
                "copy ops.ingest_log (batch_id, source, file_name, file_day, checksum, status, message) from stdin"
            ) as copy:
                for row in self._pending_log:
                    copy.write_row(row)
        self._pending_log.clear()

    def prefetch_manifest(self, contract: SourceContract, start: date, end: date) -> None:
        """Known checksums of this source's files in [start, end), so known files cost no query.

        The same bytes landed under another source or day are caught when the
        manifest row is inserted (the file's transaction then rolls back).
        """
        rows = self.conn.execute(
            """select checksum, source, file_day, file_name, batch_id from ops.file_manifest
               where source = %s and file_day >= %s and file_day < %s""",
            (contract.name, start, end),
        ).fetchall()
        self._known = {r[0]: r[1:] for r in rows}
        self._known_names = {(r[2], r[3]) for r in rows}

    def _manifest_entry(self, checksum: str) -> tuple | None:
        return self.conn.execute(
            "select source, file_day, file_name, batch_id from ops.file_manifest where checksum = %s", (checksum,)
        ).fetchone()

    def _duplicate(
        self,
        contract: SourceContract,
        day: date,
        path: Path,
        rel: str,
        checksum: str,
        src: SourceReport,
        prior: tuple | None,
    ) -> None:
        if prior:
            where = f"{prior[0]}/{prior[1]:%Y-%m-%d}/{prior[2]}"
            message = (
                "already loaded" if where == rel else f"same content as {where}, already loaded"
            ) + f" in batch {prior[3]}"
        else:
            message = "same content already loaded"
        self._log(contract, day, path, checksum, "duplicate", message)
        src.duplicates_skipped += 1
        log.info("%s: duplicate, skipped (%s)", rel, message)

    def _reject(
        self,
        contract: SourceContract,
        day: date,
        path: Path,
        rel: str,
        checksum: str | None,
        src: SourceReport,
        problem: str,
        *,
        unread: bool = False,
    ) -> None:
        message = f"{rel} rejected: {problem}"
        if checksum is None and not unread:  # rejected before its load hashed it: the log still names the bytes
            try:
                checksum = sha256_file(path)
            except OSError:
                pass
        self._log(contract, day, path, checksum, "rejected", message)
        src.rejected.append(RejectedFile(contract.name, rel, problem))
        log.error("%s", message)

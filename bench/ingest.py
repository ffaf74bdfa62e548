"""Ingestion speed against a plain COPY, and the loader's memory as files grow.

    python -m bench.ingest --sizes 100000,1000000

For each size: a clean simulated company (defect rate 0, so that a plain COPY
can load every file too), then, for the largest source and the largest CSV
source, on the largest file of each (median of --repeats runs, in one process):

* ours: `load_interval` on that file's day - checksum, manifest, every check,
  quarantine, one transaction - from a cold start of the file's tables;
* plain: `COPY ... FROM STDIN` of the same bytes into an unconstrained table
  (CSV: every column text; JSON Lines: one text column per line, and one jsonb
  column for comparison);

and the same over all the source's files. Peak memory: a loader process per
file of 1x, 8x and 64x the largest file's rows (copies of it glued together),
measured as the process's peak resident set size (VmHWM).

Figures go to bench/results/ingest-<sizes>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from bench.run import BENCH_DIR, write_results
from customer360.config import Settings, with_database
from customer360.ingestion.contracts import LANDING_DAY_FORMAT, SOURCES, SourceContract

MEMORY_MULTIPLES = (1, 8, 64)


def plain_copy_seconds(conn, contract: SourceContract, paths: list[Path], as_jsonb: bool = False) -> float:
    """COPY the files' bytes into an unconstrained table (one COPY and one commit per file)."""
    if contract.format == "csv":
        columns = ", ".join(f'"{c}" text' for c in contract.column_names)
        options = f"(format csv, header, delimiter '{contract.delimiter}')"
    else:  # one line per row, kept whole: quote and delimiter bytes that never occur in text
        columns = f"doc {'jsonb' if as_jsonb else 'text'}"
        options = "(format csv, quote e'\\x01', delimiter e'\\x02')"
    conn.execute(f"drop table if exists bench_plain; create table bench_plain ({columns})")
    conn.commit()
    t0 = time.perf_counter()
    for path in paths:
        with conn.cursor() as cur, cur.copy(f"copy bench_plain from stdin {options}") as copy, open(path, "rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
        conn.commit()
    seconds = time.perf_counter() - t0
    conn.execute("drop table bench_plain")
    conn.commit()
    return seconds


def reset_source(conn, source: str) -> None:
    conn.execute(f"truncate raw.{source}, quarantine.{source}")
    conn.execute("delete from ops.file_manifest where source = %s", (source,))
    conn.execute("delete from ops.ingest_log where source = %s", (source,))
    conn.commit()


def our_seconds(
    settings: Settings, conn, contract: SourceContract, start: date, end: date, landing: Path
) -> tuple[float, int]:
    from customer360.ingestion.loader import load_interval

    reset_source(conn, contract.name)
    t0 = time.perf_counter()
    report = load_interval(settings, start, end, [contract.name], batch_id="bench", landing_dir=landing)
    seconds = time.perf_counter() - t0
    if report.rejected_files or report.rows_quarantined:
        raise SystemExit(f"bench data for {contract.name} did not load cleanly: {report.summary()}")
    return seconds, report.rows_loaded


def data_rows(contract: SourceContract, path: Path) -> int:
    with open(path, "rb") as f:
        lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
    return lines - (1 if contract.format == "csv" and contract.header else 0)


def glued_file(contract: SourceContract, path: Path, copies: int, out_dir: Path, day: str) -> Path:
    """`copies` copies of a file's rows in one file, in its own landing day folder."""
    target = out_dir / contract.name / day / f"{contract.name}_{day}_001.{contract.file_extension}"
    target.parent.mkdir(parents=True, exist_ok=True)
    data = path.read_bytes()
    header, body = data.split(b"\n", 1) if contract.format == "csv" else (b"", data)
    with open(target, "wb") as out:
        if contract.format == "csv":
            out.write(header + b"\n")
        for _ in range(copies):
            out.write(body)
    return target


MEMORY_PROBE = """
import sys
from datetime import date
from pathlib import Path
from customer360.config import Settings
from customer360.ingestion.loader import load_interval
day = date.fromisoformat(sys.argv[3])
settings = Settings(warehouse_url=sys.argv[1], data_dir=Path("."))
report = load_interval(settings, day, day.fromordinal(day.toordinal() + 1), [sys.argv[2]], batch_id="memory",
                       landing_dir=Path(sys.argv[4]))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(report.rows_loaded, peak_kb // 1024)
"""


def peak_memory(settings: Settings, contract: SourceContract, path: Path, work: Path) -> list[dict]:
    """Loader peak RSS for files of 1x, 8x, 64x the rows of `path`."""
    from customer360.db.connection import connect

    landing = work / "memory-landing"
    out = []
    for i, copies in enumerate(MEMORY_MULTIPLES):
        day = (date(2030, 1, 1) + timedelta(days=i)).strftime(LANDING_DAY_FORMAT)
        glued = glued_file(contract, path, copies, landing, day)
        with connect(settings) as conn:
            reset_source(conn, contract.name)  # the 1x file has the bytes of one already loaded
        result = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, settings.warehouse_url, contract.name, day, str(landing)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows, peak_mb = map(int, result.stdout.split()[-2:])
        out.append(
            {"copies": copies, "rows": rows, "file_mb": round(glued.stat().st_size / 1e6, 1), "peak_rss_mb": peak_mb}
        )
        glued.unlink()
        print(f"  memory: {rows:,} rows, {out[-1]['file_mb']:,} MB file -> peak RSS {peak_mb} MB")
    return out


def bench_source(settings: Settings, conn, contract: SourceContract, landing: Path, repeats: int) -> dict:
    files = sorted((landing / contract.name).glob(f"*/*.{contract.file_extension}"))
    largest = max(files, key=lambda p: p.stat().st_size)
    day = datetime.strptime(largest.parent.name, LANDING_DAY_FORMAT).date()
    rows = data_rows(contract, largest)
    ours, plain, plain_jsonb = [], [], []
    for _ in range(repeats):
        plain.append(plain_copy_seconds(conn, contract, [largest]))
        if contract.format == "jsonl":
            plain_jsonb.append(plain_copy_seconds(conn, contract, [largest], as_jsonb=True))
        seconds, loaded = our_seconds(settings, conn, contract, day, day + timedelta(days=1), landing)
        assert loaded == rows, (loaded, rows)
        ours.append(seconds)
    first = datetime.strptime(files[0].parent.name, LANDING_DAY_FORMAT).date()
    last = datetime.strptime(files[-1].parent.name, LANDING_DAY_FORMAT).date()
    all_rows = sum(data_rows(contract, p) for p in files)
    all_plain = plain_copy_seconds(conn, contract, files)
    all_ours, all_loaded = our_seconds(settings, conn, contract, first, last + timedelta(days=1), landing)
    assert all_loaded == all_rows, (all_loaded, all_rows)
    result = {
        "source": contract.name,
        "format": contract.format,
        "largest_file": {
            "name": largest.name,
            "rows": rows,
            "mb": round(largest.stat().st_size / 1e6, 1),
            "ours_rows_per_s": round(rows / statistics.median(ours)),
            "plain_copy_rows_per_s": round(rows / statistics.median(plain)),
            "ratio": round(statistics.median(plain) / statistics.median(ours), 2),
        },
        "all_files": {
            "files": len(files),
            "rows": all_rows,
            "ours_rows_per_s": round(all_rows / all_ours),
            "plain_copy_rows_per_s": round(all_rows / all_plain),
            "ratio": round(all_plain / all_ours, 2),
        },
    }
    if plain_jsonb:
        result["largest_file"]["plain_copy_jsonb_rows_per_s"] = round(rows / statistics.median(plain_jsonb))
        result["largest_file"]["ratio_vs_jsonb"] = round(statistics.median(plain_jsonb) / statistics.median(ours), 2)
    lf = result["largest_file"]
    print(
        f"  {contract.name} largest file ({rows:,} rows): ours {lf['ours_rows_per_s']:,} rows/s, "
        f"plain COPY {lf['plain_copy_rows_per_s']:,} rows/s, ratio {lf['ratio']}"
    )
    af = result["all_files"]
    print(
        f"  {contract.name} all {len(files)} files ({all_rows:,} rows): ours {af['ours_rows_per_s']:,} rows/s, "
        f"plain COPY {af['plain_copy_rows_per_s']:,} rows/s, ratio {af['ratio']}"
    )
    return result


def bench_size(people: int, server_url: str, repeats: int) -> dict:
    from customer360.db.bootstrap import prepare_warehouse
    from customer360.db.connection import connect
    from customer360.devtools.server import drop_database, ensure_database
    from customer360.ingestion.tables import ensure_tables
    from customer360.simulator import SimulationConfig, simulate

    work = BENCH_DIR / f"ingest-{people}"
    config = SimulationConfig(people=people, defect_rate=0.0)
    summary_path = work / "data" / "truth" / "summary.json"
    print(f"\n== ingestion, {people:,} people ==")
    if not summary_path.exists() or json.loads(summary_path.read_text())["config"]["people"] != people:
        simulate(config, work / "data")
    summary = json.loads(summary_path.read_text())
    url = with_database(server_url, f"c360_bench_ingest_{people}")
    drop_database(url)
    ensure_database(url)
    settings = Settings(warehouse_url=url, data_dir=work / "data")
    prepare_warehouse(settings)
    landing = settings.landing_dir
    largest = max(summary["rows"], key=summary["rows"].get)
    largest_csv = max((s for s in summary["rows"] if SOURCES[s].format == "csv"), key=summary["rows"].get)
    try:
        with connect(settings) as conn:
            ensure_tables(conn)
            conn.commit()
            sources = [
                bench_source(settings, conn, SOURCES[s], landing, repeats)
                for s in dict.fromkeys([largest, largest_csv])
            ]
        biggest = max((landing / largest).glob("*/*"), key=lambda p: p.stat().st_size)
        memory = peak_memory(settings, SOURCES[largest], biggest, work)
    finally:
        drop_database(url)
    return {"people": people, "largest_source": largest, "sources": sources, "memory": memory}


def markdown(runs: list[dict]) -> str:
    lines = [
        "| people | source | file rows | ours rows/s | plain COPY rows/s | ratio | all files ratio |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for s in run["sources"]:
            lf, af = s["largest_file"], s["all_files"]
            plain = f"{lf['plain_copy_rows_per_s']:,}"
            ratio = f"{lf['ratio']}"
            if "ratio_vs_jsonb" in lf:
                plain += f" (jsonb {lf['plain_copy_jsonb_rows_per_s']:,})"
                ratio += f" (jsonb {lf['ratio_vs_jsonb']})"
            lines.append(
                f"| {run['people']:,} | {s['source']} ({s['format']}) | {lf['rows']:,} | "
                f"{lf['ours_rows_per_s']:,} | {plain} | {ratio} | {af['ratio']} |"
            )
    lines += ["", "| people | source | rows in file | file MB | loader peak RSS MB |", "|---:|---|---:|---:|---:|"]
    for run in runs:
        for m in run["memory"]:
            lines.append(
                f"| {run['people']:,} | {run['largest_source']} | {m['rows']:,} | {m['file_mb']:,} | "
                f"{m['peak_rss_mb']:,} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated numbers of people")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from customer360.devtools.server import resolve_warehouse_url

    server_url = resolve_warehouse_url()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = [bench_size(people, server_url, args.repeats) for people in sizes]
    write_results(f"ingest-{'-'.join(map(str, sizes))}", {"runs": runs}, markdown(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

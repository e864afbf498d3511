"""The reviewed mapping of WordNet's 45 lexicographer classes onto 6 domains (`domains.csv`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from aiprime.errors import DataCorrupt

DOMAINS = ("living", "artifacts", "people_society", "abstractions", "actions", "qualities")
COLUMNS = ["lexname", "domain", "note"]
MIN_CLASSES_PER_DOMAIN = 2
TABLE_FILE = "domains.csv"


def _table_path() -> Path:
    return Path(str(resources.files("aiprime.data").joinpath(TABLE_FILE)))


def check_domain_table(table: pd.DataFrame, source: Path) -> None:
    """Check the table's columns, that each lexname appears once, and that each domain is known and used.

    Raises:
        DataCorrupt: Naming the problem and the file to fix.
    """
    problems = []
    if list(table.columns) != COLUMNS:
        problems.append(f"columns are {list(table.columns)}, expected {COLUMNS}")
    else:
        repeated = sorted(table.lexname[table.lexname.duplicated()])
        unknown = sorted(set(table.domain) - set(DOMAINS))
        sizes = table.domain.value_counts()
        small = [d for d in DOMAINS if sizes.get(d, 0) < MIN_CLASSES_PER_DOMAIN]
        problems += [f"lexnames listed twice: {repeated}"] if repeated else []
        problems += [f"unknown domains {unknown} (known: {list(DOMAINS)})"] if unknown else []
        problems += [f"domains with fewer than {MIN_CLASSES_PER_DOMAIN} classes: {small}"] if small else []
    if problems:
        raise DataCorrupt(f"{source}: {'; '.join(problems)}. Fix the table (one row per lexname).")


def load_domains(path: Path | None = None) -> pd.DataFrame:
    """The domain table: one row per lexname with its domain and a note on why.

    Args:
        path: A CSV with columns lexname, domain, note; by default the reviewed `domains.csv` of this package.

    Raises:
        DataCorrupt: If the file is not such a table (see `check_domain_table`).
    """
    path = path or _table_path()
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    check_domain_table(table, path)
    return table


def domains_of(lexnames: pd.Series, table: pd.DataFrame | None = None) -> pd.Series:
    """The domain of each lexname in `lexnames`.

    Raises:
        DataCorrupt: Listing every lexname that the table does not map, and where to add it.
    """
    table = load_domains() if table is None else table
    mapping = dict(zip(table.lexname, table.domain, strict=True))
    unmapped = sorted(set(lexnames) - set(mapping))
    if unmapped:
        raise DataCorrupt(
            f"Lexnames {unmapped} have no domain. Add a row `lexname,domain,note` for each to "
            f"{_table_path()} (domains: {', '.join(DOMAINS)})."
        )
    return lexnames.map(mapping)

"""The three Debian packages that the datasets are built from, and the check that they are installed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiprime.data.foldoc import index_path_for
from aiprime.data.wordnet import DATA_FILES
from aiprime.errors import DataSourceMissing
from aiprime.settings import Settings


@dataclass(frozen=True)
class Source:
    """One source data set and where it comes from."""

    name: str  # human name, e.g. "WordNet 3.0"
    package: str  # the Debian package that installs it
    setting: str  # the AIPRIME_* variable that points elsewhere
    paths: tuple[Path, ...]  # files and folders that must all exist

    def missing(self) -> list[Path]:
        """The paths of this source that do not exist."""
        return [path for path in self.paths if not path.exists()]


def sources(settings: Settings) -> list[Source]:
    """The sources, where `settings` says they are."""
    wordnet = tuple(settings.wordnet_dir / name for name in DATA_FILES)
    foldoc = (settings.foldoc_dict, index_path_for(settings.foldoc_dict))
    return [
        Source("WordNet 3.0", "wordnet-base", "AIPRIME_WORDNET_DIR", wordnet),
        Source("FOLDOC", "dict-foldoc", "AIPRIME_FOLDOC_DICT", foldoc),
        Source("Python 3.11 docs", "python3.11-doc", "AIPRIME_PYTHON_DOCS_DIR", (settings.python_docs_dir,)),
    ]


def require_sources(settings: Settings) -> None:
    """Check that every source is installed.

    Raises:
        DataSourceMissing: Naming every missing source and path, the one `apt-get install` command that
            installs them all, and the settings that point at copies elsewhere.
    """
    missing = [source for source in sources(settings) if source.missing()]
    if not missing:
        return
    listed = "; ".join(
        f"{s.name} (Debian package {s.package}): {', '.join(map(str, s.missing()))} not found"
        for s in missing
    )
    raise DataSourceMissing(
        f"Missing data sources: {listed}. Install them with "
        f"`apt-get install {' '.join(s.package for s in missing)}`, "
        f"or set {', '.join(s.setting for s in missing)} to copies elsewhere."
    )

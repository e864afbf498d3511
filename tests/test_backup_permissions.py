"""Backups hold every database's secrets (the gateway's password hashes too): only their owner reads them."""

from __future__ import annotations

import stat
from pathlib import Path

from aiprime import backup
from aiprime.settings import Settings


def test_a_backup_is_private_to_its_owner(pg_server_url: str, app_db_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url=pg_server_url, _env_file=None)
    folder = backup.create(settings)
    archive = backup.create(settings, archive=True)
    paths = [backup.default_dir(settings), folder, *folder.rglob("*"), archive]
    modes = {str(p): stat.S_IMODE(p.stat().st_mode) for p in paths}
    assert "db/aiprime.dump" in " ".join(modes)  # the password hashes are in there
    assert modes == {str(p): 0o700 if p.is_dir() else 0o600 for p in paths}

"""Administration foot-guns refused: reserved actor names, an admin removing itself, and the last admin."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from aiprime.db.engine import connect
from aiprime.errors import AdminLockout, InvalidInput
from aiprime.security.admin import Actor, Admin

ME = Actor("tests")


@pytest.mark.parametrize("name", ["anonymous", "Anonymous", "cli:root", "CLI:alice", "system:audit"])
def test_names_of_the_systems_own_actors_are_refused(fresh_db: str, name: str) -> None:
    admin = Admin(connect(fresh_db))
    with pytest.raises(InvalidInput, match="reserved") as info:
        admin.add_principal(ME, name, "service")
    assert "'anonymous', 'cli:...', 'system:...'" in str(info.value)
    with pytest.raises(IntegrityError, match="ck_principals_not_reserved"), admin.engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO gateway.principals (name, kind, created_by) VALUES (:n, 'service', 'x')"),
            {"n": name},
        )


def _admins(admin: Admin, *names: str) -> None:
    for name in names:
        admin.add_principal(ME, name, "service")
        admin.grant(ME, name, "admin")


def test_the_last_admin_can_be_neither_removed_nor_demoted(fresh_db: str) -> None:
    admin = Admin(connect(fresh_db))
    _admins(admin, "alice")
    with pytest.raises(AdminLockout, match="no principal holding the `admin` permission"):
        admin.remove_principal(ME, "alice")
    with pytest.raises(AdminLockout, match="Grant `admin` to another principal first"):
        admin.revoke(ME, "alice", "admin")
    _admins(admin, "bob")
    admin.revoke(ME, "alice", "admin")  # bob remains
    assert admin.remove_principal(ME, "alice") is None


def test_an_admin_cannot_remove_itself(fresh_db: str) -> None:
    admin = Admin(connect(fresh_db))
    _admins(admin, "alice", "bob")
    with pytest.raises(AdminLockout, match="cannot remove itself"):
        admin.remove_principal(Actor("alice"), "alice")
    admin.remove_principal(Actor("bob"), "alice")


def test_two_admins_removing_each_other_at_once_leave_one(fresh_db: str) -> None:
    admin = Admin(connect(fresh_db))
    _admins(admin, "alice", "bob")
    start, outcomes = threading.Barrier(2), []

    def remove(actor: str, name: str) -> None:
        start.wait()
        try:
            admin.remove_principal(Actor(actor), name)
            outcomes.append("removed")
        except AdminLockout:
            outcomes.append("refused")

    threads = [threading.Thread(target=remove, args=p) for p in (("alice", "bob"), ("bob", "alice"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "removed"]
    with admin.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM gateway.principal_roles WHERE role = 'admin'"))
        assert left.scalar() == 1

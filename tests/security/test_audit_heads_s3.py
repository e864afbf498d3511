"""Audit heads in an S3 Object Lock bucket (compliance mode), against moto's S3 API on 127.0.0.1.

moto enforces what these tests rely on: a locked version cannot be deleted (AccessDenied, even with the
governance bypass), and a write with `If-None-Match: *` to a taken key fails (PreconditionFailed). Like S3,
it lets a plain write to a taken key add a version above the locked one, and a plain delete add a delete
marker: the store reads each key's first version, so neither changes the head it reads back.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from _helpers.auditchain import log, rewrite_and_truncate, s3_server, verify_cli
from botocore.exceptions import ClientError

from aiprime.errors import AuditChainBroken
from aiprime.security import auditheads

BUCKET = "aiprime-test-audit-heads"
HEADS = f"s3://{BUCKET}/audit-heads/dev"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """A boto3 client of a fresh S3 API with an Object Lock bucket whose default retention is compliance."""
    with s3_server(monkeypatch):
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        client.put_object_lock_configuration(
            Bucket=BUCKET,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 400}},
            },
        )
        yield client


def _key(seq: int) -> str:
    return f"audit-heads/dev/{seq:020d}.json"


def test_heads_are_published_locked_and_the_last_read_back(s3, fresh_db: str) -> None:
    engine = log(fresh_db, 3)
    store = auditheads.store_for(HEADS, "aiprime")
    assert auditheads.publish_verified(engine, store).seq == 3
    assert auditheads.publish_verified(engine, store) is None  # nothing new: nothing written
    log(fresh_db, 2)
    assert auditheads.publish_verified(engine, store).seq == 5

    assert store.last().seq == 5
    listed = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [o["Key"] for o in listed] == [_key(3), _key(5)]
    assert s3.head_object(Bucket=BUCKET, Key=_key(5))["ObjectLockMode"] == "COMPLIANCE"


def test_verify_checks_the_chain_against_the_head_in_the_bucket(s3, fresh_db: str, monkeypatch) -> None:
    engine = log(fresh_db, 6)
    code, output = verify_cli(fresh_db, HEADS, monkeypatch)
    assert code == 0 and "no head was published" in output and "published head 6" in output
    code, output = verify_cli(fresh_db, HEADS, monkeypatch)
    assert code == 0 and "checked against the head published at" in output and "(row 6)" in output

    rewrite_and_truncate(engine, rewrite=3, keep=4)
    code, output = verify_cli(fresh_db, HEADS, monkeypatch)
    assert code == 1 and "rows 5 to 6 deleted" in output


def test_a_published_head_cannot_be_deleted_or_replaced(s3, fresh_db: str) -> None:
    store = auditheads.store_for(HEADS, "aiprime")
    published = auditheads.publish_verified(log(fresh_db, 4), store)
    [version] = s3.list_object_versions(Bucket=BUCKET)["Versions"]

    for bypass in (False, True):
        with pytest.raises(ClientError, match="AccessDenied"):
            s3.delete_object(
                Bucket=BUCKET, Key=_key(4), VersionId=version["VersionId"], BypassGovernanceRetention=bypass
            )
    forged = b'{"seq": 4, "hash": "' + b"0" * 64 + b'", "at": "2026-12-07T00:00:00+00:00"}'
    s3.put_object(Bucket=BUCKET, Key=_key(4), Body=forged)  # a new version above the locked one
    s3.delete_object(Bucket=BUCKET, Key=_key(4))  # a delete marker above both
    assert store.last() == published


def test_replicas_may_publish_the_same_head_but_never_a_different_one(s3) -> None:
    store = auditheads.store_for(HEADS, "aiprime")
    store.publish(auditheads.Head(7, "a" * 64, "2026-12-07T00:00:00+00:00"))
    store.publish(auditheads.Head(7, "a" * 64, "2026-12-07T00:00:01+00:00"))  # the other gateway replica
    with pytest.raises(AuditChainBroken, match="already holds a different head for seq 7"):
        store.publish(auditheads.Head(7, "b" * 64, "2026-12-07T00:00:02+00:00"))
    assert store.last().hash == "a" * 64
    assert len(s3.list_object_versions(Bucket=BUCKET)["Versions"]) == 1


def test_the_last_head_is_found_across_pages_and_replicas(s3) -> None:
    reader = auditheads.S3Heads(HEADS, page_size=2)  # as if S3 listed 2 keys a page instead of 1,000
    writer = auditheads.S3Heads(HEADS)  # another gateway replica
    for seq in range(1, 6):
        writer.publish(auditheads.Head(seq, f"{seq:064x}", "2026-12-07T00:00:00+00:00"))
    assert reader.last().seq == 5
    writer.publish(auditheads.Head(6, f"{6:064x}", "2026-12-07T00:01:00+00:00"))
    assert reader.last().seq == 6  # listed from the newest key it had seen on
    other = auditheads.S3Heads(f"{HEADS}-other")  # a prefix that starts like this one is another store
    other.publish(auditheads.Head(9, f"{9:064x}", "2026-12-07T00:02:00+00:00"))
    assert reader.last().seq == 6 and auditheads.S3Heads(HEADS).last().seq == 6

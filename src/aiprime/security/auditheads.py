"""Published heads of the audit chain: (seq, hash) kept where the database cannot rewrite them.

Re-hashing the chain from one row on, or deleting its newest rows, leaves a chain that verifies by itself.
A head published earlier catches both: the published row must still carry the published hash, and the
chain must still reach it. The gateway publishes the head every `audit_head_interval_s` (60 s by default)
and when it stops, and `aiprime audit verify` checks against the last published head by default, then
publishes the head it verified. A head is published only if the rows since the previous published head
link to it, so a chain rewritten in the database is never blessed by a later head.

Where heads go (`AIPRIME_GATEWAY_AUDIT_HEADS`):
- a folder (default `<AIPRIME_HOME>/audit-heads`, outside PostgreSQL's data directory): one JSON-lines file
  per database, opened append-only, mode 0600 in a 0700 folder. Whoever can write that file as the
  gateway's OS user can still rewrite it: on a server, put it on storage the database's host cannot reach.
- `s3://bucket/prefix`: one object per head, for a bucket with S3 Object Lock in compliance mode (the
  cluster's: terraform/stacks/platform, output `audit_heads_bucket`), so that no one can delete a head's
  version before its retention ends. Object Lock keeps versions, not keys: a later write to the same key
  adds a version above the locked one. So a head is written only where its key is free (`If-None-Match`),
  and read back from its key's first version, the one the lock holds. boto3 finds the endpoint (S3, or an
  S3-compatible store through `AWS_ENDPOINT_URL_S3`) and the credentials (IRSA on a cluster) itself.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine

from aiprime.errors import AuditChainBroken, ConfigError, DataCorrupt
from aiprime.security import audit

_log = logging.getLogger(__name__)
_TAIL_BYTES = 4096  # a published line is about 130 bytes


@dataclass(frozen=True)
class Head:
    """The newest row of the chain when it was published."""

    seq: int
    hash: str
    at: str  # ISO 8601, UTC: when it was published

    @property
    def anchor(self) -> tuple[int, str]:
        """(seq, hash), as `audit.verify` takes it."""
        return self.seq, self.hash


class HeadStore(Protocol):
    """Somewhere heads are appended and the last one read back."""

    where: str

    def publish(self, head: Head) -> None:
        """Append `head`."""

    def last(self) -> Head | None:
        """The newest published head, or None before the first."""


class FileHeads:
    """Heads as JSON lines in `<folder>/<database>.jsonl`: appended only, owner-only permissions."""

    def __init__(self, folder: Path, database: str) -> None:
        self.path = folder / f"{database}.jsonl"
        self.where = str(self.path)

    def publish(self, head: Head) -> None:
        """Append one line and fsync it."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.parent.chmod(0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(asdict(head)) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def last(self) -> Head | None:
        """The last line's head (read from the file's end: it grows by a line a minute)."""
        if not self.path.exists():
            return None
        with self.path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - _TAIL_BYTES))
            lines = [line for line in f.read().decode(errors="replace").splitlines() if line.strip()]
        if not lines:
            return None
        try:
            return Head(**json.loads(lines[-1]))
        except (ValueError, TypeError) as e:
            raise DataCorrupt(
                f"The last line of {self.path} is not a published audit head ({e}); restore the file "
                "from a copy, or pass --anchor SEQ:HASH from a head you trust."
            ) from e


class S3Heads:
    """Heads as objects `<prefix>/<seq, 20 digits>.json` in an Object Lock bucket, each written once."""

    def __init__(self, uri: str, page_size: int = 1000) -> None:
        """Args: `uri` is `s3://bucket/prefix`; `page_size` the most keys one listing returns (S3's 1,000)."""
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        self.page_size = page_size
        self.bucket, self.prefix, self.where = bucket, prefix.strip("/"), uri
        self._newest = ""  # the highest key seen: later listings start there, not at the first head
        try:
            import boto3
        except ImportError as e:
            raise ConfigError(
                f"Publishing audit heads to {uri} needs boto3: `pip install boto3`, or set "
                "AIPRIME_GATEWAY_AUDIT_HEADS to a folder."
            ) from e
        self._s3 = boto3.client("s3")

    def publish(self, head: Head) -> None:
        """Put one object where none is; the bucket's default retention locks it.

        Another gateway replica may have published the same head first: that is fine. A different head
        under the same seq is not (one chain was rewritten), and nothing is overwritten.
        """
        key = f"{self.prefix}/{head.seq:020d}.json".lstrip("/")
        try:
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=json.dumps(asdict(head)).encode(), IfNoneMatch="*"
            )
        except self._s3.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") != "PreconditionFailed":
                raise
            if self._read(key).anchor != head.anchor:
                raise AuditChainBroken(
                    f"s3://{self.bucket}/{key} already holds a different head for seq {head.seq}: the chain "
                    "was rewritten since it was published. Run `aiprime audit verify` and keep a copy of "
                    "the database."
                ) from e

    def last(self) -> Head | None:
        """The head under the highest key (keys sort by seq), as first written there."""
        self._newest = max(self._keys_after(self._newest), default=self._newest)
        return self._read(self._newest) if self._newest else None

    def _keys_after(self, after: str) -> set[str]:
        """The keys above `after`, delete markers ignored: a year of heads a minute apart is 500,000 keys,
        listed once per process, then only the new ones."""
        params = {"Bucket": self.bucket, "Prefix": f"{self.prefix}/".lstrip("/"), "MaxKeys": self.page_size}
        keys: set[str] = set()
        while True:
            page = self._s3.list_object_versions(**params, **({"KeyMarker": after} if after else {}))
            keys |= {v["Key"] for v in page.get("Versions", [])}
            if not page.get("IsTruncated"):
                return keys
            after, params["VersionIdMarker"] = page["NextKeyMarker"], page["NextVersionIdMarker"]

    def _read(self, key: str) -> Head:
        """The first version of `key`: later versions (an overwrite) are not what was published."""
        versions = self._s3.list_object_versions(Bucket=self.bucket, Prefix=key)["Versions"]
        first = [v for v in versions if v["Key"] == key][-1]  # S3 lists a key's versions newest first
        body = self._s3.get_object(Bucket=self.bucket, Key=key, VersionId=first["VersionId"])["Body"].read()
        try:
            return Head(**json.loads(body))
        except (ValueError, TypeError) as e:
            raise DataCorrupt(
                f"s3://{self.bucket}/{key} is not a published audit head ({e}); pass --anchor SEQ:HASH "
                "from a head you trust."
            ) from e


def store_for(where: str, database: str) -> HeadStore:
    """The store that `where` names: `s3://bucket/prefix`, else a folder."""
    return S3Heads(where) if where.startswith("s3://") else FileHeads(Path(where), database)


def verify_published(engine: Engine, store: HeadStore | None) -> tuple[audit.Report, Head | None]:
    """Walk the whole chain and check it against the last head published in `store` (if any).

    Returns:
        The report (a re-hashed or truncated chain is a problem of kind `anchor` or `deleted`) and the
        published head it was checked against.
    """
    published = store.last() if store is not None else None
    return audit.verify(engine, published.anchor if published else None), published


def publish_verified(engine: Engine, store: HeadStore) -> Head | None:
    """Publish the chain's head if the rows since the last published head link to it; return it.

    Raises:
        AuditChainBroken: the chain no longer extends the last published head (nothing is published).
    """
    last = store.last()
    report = audit.verify_since(engine, last.anchor if last else None)
    if not report.ok:
        raise AuditChainBroken(
            f"Not publishing the audit head: {report.problems[0].message} (checked from the head "
            f"published in {store.where}). Run `aiprime audit verify` and keep a copy of the database."
        )
    if report.head_seq == 0 or (last is not None and report.head_seq <= last.seq):
        return None
    head = Head(report.head_seq, report.head_hash, datetime.now(UTC).isoformat(timespec="seconds"))
    store.publish(head)
    return head


class HeadPublisher:
    """Publishes the head every `interval_s` in a background thread, and once more when stopped."""

    def __init__(self, engine: Engine, store: HeadStore, interval_s: float) -> None:
        self.engine, self.store, self.interval_s = engine, store, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-head-publisher", daemon=True)

    def start(self) -> None:
        """Start publishing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop, publishing the final head (call it after the audit writer flushed)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.publish_once()

    def publish_once(self) -> Head | None:
        """Publish now; a failure is logged (the next round tries again), never raised."""
        try:
            return publish_verified(self.engine, self.store)
        except Exception:  # noqa: BLE001 - a broken chain or an unreachable store must not stop the gateway
            _log.exception("audit head not published to %s", self.store.where)
            return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.publish_once()

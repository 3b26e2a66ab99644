"""The evidence store: files named by their sha256 under one folder.

A request never names a file: the database row of an incident's evidence holds the hash,
and the hash (64 hex digits, checked) is the only thing that becomes a path. Files are
written to a temporary name, synced and renamed, so a file either is complete or is not there.
A process killed while writing leaves its temporary (`.<sha256>.<uuid>.tmp`, never a path a
request can reach) until the retention job's sweep removes it.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from etiquette.files import OWNER_ONLY, atomic_write

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class EvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store `data` durably; returns its sha256. Storing the same bytes twice is harmless."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists() and target.stat().st_size == len(data):
            os.utime(target)  # a fresh reference: the orphan sweep must not take it now
            return digest
        atomic_write(target, data, mode=OWNER_ONLY)
        return digest

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
            return True
        except FileNotFoundError:
            return False

    def temporaries(self, older_than_s: float = 0.0) -> Iterator[Path]:
        """Temporaries of writes that never finished (the writer killed), last touched more than
        `older_than_s` ago (a younger one may be a write in progress)."""
        cutoff = time.time() - older_than_s
        for sub in self.root.iterdir():
            if not sub.is_dir() or len(sub.name) != 2:
                continue
            for f in sub.iterdir():
                if not (f.name.startswith(".") and f.name.endswith(".tmp")):
                    continue
                try:
                    if f.stat().st_mtime < cutoff:
                        yield f
                except FileNotFoundError:  # renamed into place meanwhile: a write finished
                    continue

    def files(self, older_than_s: float = 0.0) -> Iterator[str]:
        """Hashes of the stored files last touched more than `older_than_s` ago."""
        cutoff = time.time() - older_than_s
        for sub in self.root.iterdir():
            if not sub.is_dir() or len(sub.name) != 2:
                continue
            for f in sub.iterdir():
                if _SHA256.match(f.name) and f.stat().st_mtime < cutoff:
                    yield f.name

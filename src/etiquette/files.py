"""Files written whole or not at all, and on disk when the call returns.

Every writer of evidence, outbox entries and copied rules goes through `atomic_writer`: the
bytes go to a temporary file beside the target, are flushed and fsync'd, and only then is the
temporary renamed onto the target in one step. A reader (a reviewer, the sender, a restart)
sees the old file or the new one, never half of one; an exception while writing leaves the
old file as it was and no temporary behind. With `sync_dir` the folder is fsync'd too, so the
new name survives a power cut, not only a process crash.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

# Readable and writable by the owner only: what `tempfile.mkstemp` gives, kept for the files
# that always had it (camera snapshots, the service's evidence store): pictures and voices of
# people, for the account that runs the pipeline or the service.
OWNER_ONLY = 0o600


@contextmanager
def atomic_writer(path: Path, *, mode: int = 0o666, sync_dir: bool = True) -> Iterator[BinaryIO]:
    """A binary file to write; when the block ends without an exception it becomes `path`.

    The folder is made if missing. `mode`: the permission bits of the new file, less the umask,
    as `os.open` takes them (0o666, the default, is what `open()` gives). `sync_dir=False` is
    for a caller that fsyncs the folder itself once after several files.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden, named after its target, and unique, so that writers of the same file at the
    # same time never share a temporary.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o666, sync_dir: bool = True) -> None:
    """`data` as the whole of `path` (see `atomic_writer`)."""
    with atomic_writer(path, mode=mode, sync_dir=sync_dir) as f:
        f.write(data)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new name in `path` survive a power cut, not only a process crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

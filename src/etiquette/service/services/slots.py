"""Work that takes much memory or CPU, bounded per service process: at most `size` at once. One
more may wait a little for a slot where the work is short (`queue` places, `wait_s` each);
beyond that it is refused with 429 and Retry-After, never queued without end, so that a crowd
of requests costs neither memory nor a wait without end. Practice recognition holds one kind of
slot, without a queue (services.practice.PracticeSlots); the decoding of uploaded evidence and
staff photos another (DecodeSlots), with one: an ordinary burst of pipelines posting at once
waits a fraction of a second rather than being told to come back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from etiquette.service.errors import TooManyRequests

DECODE_RETRY_AFTER_S = 2  # a file of max_evidence_bytes decodes in well under a second
# Requests that may wait for each decoding slot. They wait in the server's worker threads (40
# in all, shared with every other request), so their number stays bounded too; at the default
# 4 slots, 36 uploads are taken at once (a hall of 32 windows posting together is an ordinary
# burst) and 8 threads stay free for the rest.
DECODE_QUEUE_PER_SLOT = 8


class Slots:
    """`busy`: the refusal's message; `retry_after_s`: its Retry-After."""

    def __init__(self, size: int, busy: str, retry_after_s: int, *, queue: int = 0,
                 wait_s: float = 0.0) -> None:
        self.size = size
        self.busy = busy
        self.retry_after_s = retry_after_s
        self.queue = queue
        self.wait_s = wait_s
        self._changed = threading.Condition()
        self._taken = 0
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        return self._waiting

    def refuse_if_full(self) -> None:
        """Raises TooManyRequests if every slot is taken and no more may wait for one (checked
        before a body is read too)."""
        if self._taken >= self.size and self._waiting >= self.queue:
            self._refuse()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """One slot while the body of the `with` runs, after waiting up to `wait_s` for it if
        there is room to wait. Raises TooManyRequests: none free, or none freed in time."""
        with self._changed:
            self.refuse_if_full()
            if self._taken >= self.size:
                self._waiting += 1
                try:
                    freed = self._changed.wait_for(lambda: self._taken < self.size, self.wait_s)
                finally:
                    self._waiting -= 1
                if not freed:
                    self._refuse()
            self._taken += 1
        try:
            yield
        finally:
            with self._changed:
                self._taken -= 1
                self._changed.notify()

    def _refuse(self) -> None:
        raise TooManyRequests(self.busy, {"Retry-After": str(self.retry_after_s)})


class DecodeSlots(Slots):
    """The requests whose evidence files or staff photo are being decoded (an image of up to
    media.MAX_IMAGE_PIXELS holds up to 320 MB while decoded: 16-bit RGBA)."""

    def __init__(self, size: int, wait_s: float) -> None:
        super().__init__(size, f"正在校验的上传文件较多，请 {DECODE_RETRY_AFTER_S} 秒后再试 "
                               f"(the service is busy decoding {size} uploads; try again later)",
                         DECODE_RETRY_AFTER_S, queue=size * DECODE_QUEUE_PER_SLOT, wait_s=wait_s)

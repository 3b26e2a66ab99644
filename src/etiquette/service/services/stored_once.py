"""What a pipeline posts under an id of its own (an incident, a session record, a rating) is
stored once: the id is the idempotency key. The same id with the same content is a retry, which
stores nothing new and is answered with the stored row; the same id with other content is
refused (409), never silently overwritten. A retry racing its original past the first look is
caught at the commit (the primary key's IntegrityError) and answered the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from etiquette.service.errors import Conflict


class Posted(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def content_sha256(self) -> str: ...


R = TypeVar("R", bound=Posted)


def digest(body: dict[str, Any]) -> str:
    """The content's hash: what tells a retry from other content under the same id."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
                          ).hexdigest()


def store_once(*, session: Session, content: str, stored: Callable[[], R | None],
               create: Callable[[], R], what: tuple[str, str]) -> tuple[R, bool]:
    """(The row, whether it is new): `stored` looks the id up, `create` adds the new row (and
    what goes with it) to `session`, committed here. `content` is the posted content's digest;
    `what` names the thing in Chinese and English for the refusal.

    Raises:
      Conflict: the id is stored already with other content.
    """
    existing = stored()
    if existing is None:
        try:
            row = create()
            session.commit()
            return row, True
        except IntegrityError:
            # The same id committed by a concurrent request (a retry racing its original).
            session.rollback()
            existing = stored()
            if existing is None:
                raise
    if existing.content_sha256 != content:
        chinese, english = what
        raise Conflict(f"{chinese} {existing.id} 已以不同内容保存：同一编号只指一个{chinese}，"
                       f"请重发相同内容或使用新编号 ({english} {existing.id} is already stored "
                       f"with different content; resend the same content, or use a new id)")
    return existing, False

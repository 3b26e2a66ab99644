"""Errors by kind, raised by services and crud, mapped to HTTP status codes in one place
(etiquette.service.main). Messages are for the person who sent the request: 「中文 (English)」,
the API's JSON carrying both, pages and forms the Chinese (`chinese`)."""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u4e00-\u9fff]")


def chinese(detail: str) -> str | None:
    """The Chinese part of a message「中文 (English)」; None where it has none."""
    text = detail.split(" (")[0].strip()
    return text if _HAN.search(text) else None


class ServiceError(Exception):
    status_code = 400

    def __init__(self, detail: str, headers: dict[str, str] | None = None,
                 field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        self.field = field  # the request's field it is about, for a form to show it beside


class BadRequest(ServiceError):
    status_code = 400


class Unauthorized(ServiceError):
    status_code = 401


class Forbidden(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class TooLarge(ServiceError):
    status_code = 413


class UnsupportedMedia(ServiceError):
    status_code = 415


class Invalid(ServiceError):
    status_code = 422


class TooManyRequests(ServiceError):
    status_code = 429


class Gone(ServiceError):
    status_code = 410


class Unavailable(ServiceError):
    """Something this service was started without (a practice recogniser)."""

    status_code = 503


class DatabaseUnavailable(Unavailable):
    """The database is down, restarting or busy (SQLAlchemy's OperationalError): the client is
    told to retry, as a pipeline's outbox does; the engine's pool reconnects once it is back."""

    def __init__(self) -> None:
        super().__init__("数据库暂时不可用，请稍后重试 (database unavailable, try again)",
                         headers={"Retry-After": "5"})

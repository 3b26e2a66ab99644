"""Errors by kind, raised by services and crud, mapped to HTTP status codes in one place
(etiquette.service.main). Messages are for the person who sent the request."""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


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

"""One error hierarchy for the whole router.

Services raise these; the HTTP layer maps them to ``{code, status, message, errors}``
in one place, and the CLI prints them and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class RouterError(Exception):
    """Base class: a problem the caller can understand and fix."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, errors: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors if errors is not None else {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "status": self.status, "message": self.message, "errors": self.errors}


class ValidationError(RouterError):
    status = 422
    code = "validation_error"


class MalformedRequest(RouterError):
    status = 400
    code = "malformed_request"


class AuthError(RouterError):
    status = 401
    code = "unauthorized"


class ForbiddenError(RouterError):
    status = 403
    code = "forbidden"


class NotFound(RouterError):
    status = 404
    code = "not_found"


class Conflict(RouterError):
    status = 409
    code = "conflict"


class PreconditionFailed(RouterError):
    status = 412
    code = "precondition_failed"


class PreconditionRequired(RouterError):
    status = 428
    code = "precondition_required"


class PayloadTooLarge(RouterError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(RouterError):
    status = 415
    code = "unsupported_media_type"


class ServiceUnavailable(RouterError):
    status = 503
    code = "service_unavailable"


class TrainingDataError(RouterError):
    """Training data failed validation; ``errors`` lists every problem found."""

    status = 422
    code = "invalid_training_data"


class ModelIntegrityError(RouterError):
    """An artefact failed its checksum, path or library-version checks."""

    status = 422
    code = "model_integrity"


class ConfigError(RouterError):
    status = 500
    code = "configuration_error"

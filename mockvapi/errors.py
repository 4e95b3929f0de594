"""One exception tree for everything mockvapi raises.

User-input errors also subclass a builtin (``ScenarioError`` is a ``ValueError``) so callers who
do not know mockvapi can still catch them.
"""

from __future__ import annotations

from dataclasses import dataclass


class MockVapiError(Exception):
    """Root of every error mockvapi raises on purpose."""


@dataclass(frozen=True)
class SourceLocation:
    """Where in a scenario file something is: 1-based line and column (line 0: the file as a whole,
    e.g. one that does not exist, which has no line to point at)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}" if self.line > 0 else self.file


@dataclass(frozen=True)
class ScenarioProblem:
    """One thing wrong with a scenario, pointing at the place that is wrong."""

    location: SourceLocation
    message: str
    step: str | None = None

    def __str__(self) -> str:
        where = f" (step {self.step})" if self.step else ""
        return f"{self.location}: {self.message}{where}"


class ScenarioError(MockVapiError, ValueError):
    """A scenario that cannot be loaded or compiled; carries every problem found."""

    def __init__(self, problems: list[ScenarioProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __repr__(self) -> str:
        return f"ScenarioError({len(self.problems)} problem(s): {self.problems[0] if self.problems else ''})"


class DeliveryError(MockVapiError):
    """A message could not be delivered to a target (recorded in the journal, raised only on demand)."""


class ExpectationFailed(MockVapiError, AssertionError):
    """A check on what the system under test did (or answered) did not hold."""


class ApiError(MockVapiError):
    """An error the mock REST API answers with, serialised as Vapi's NestJS-style JSON body."""

    status: int = 400
    error: str = "Bad Request"

    def __init__(self, message: str | list[str], *, status: int | None = None) -> None:
        self.message = message
        if status is not None:
            self.status = status
        super().__init__(message if isinstance(message, str) else "; ".join(message))

    def body(self) -> dict[str, object]:
        return {"message": self.message, "error": self.error, "statusCode": self.status}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r})"


class BadRequest(ApiError):
    status = 400
    error = "Bad Request"


class Unauthorized(ApiError):
    status = 401
    error = "Unauthorized"


class Forbidden(ApiError):
    status = 403
    error = "Forbidden"


class UnsupportedMediaType(ApiError):
    status = 415
    error = "Unsupported Media Type"


class NotFound(ApiError):
    status = 404
    error = "Not Found"


class PayloadTooLarge(ApiError):
    status = 413
    error = "Payload Too Large"


class TooManyRequests(ApiError):
    """429, with the seconds to wait in ``Retry-After`` (which the official SDKs honour)."""

    status = 429
    error = "Too Many Requests"

    def __init__(self, message: str | list[str], *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after

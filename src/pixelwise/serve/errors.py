"""The one error type of the server's answers: an HTTP status and one clear message."""

from __future__ import annotations


class ApiError(Exception):
    """Answered as ``{"error": message, "status": status}`` with ``status`` and ``headers``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}

"""Typed errors of the core; each says whether retrying the same input could help."""

from __future__ import annotations


class CoreError(Exception):
    retryable: bool = False


class IllegalTransition(CoreError):
    """The event makes no sense in the aggregate's state; nothing was changed. Not retryable."""

    def __init__(self, workflow: str, state: str, event: str) -> None:
        super().__init__(f"{workflow}: event {event!r} is not allowed in state {state!r}")
        self.state = state
        self.event = event


class NotYetKnown(CoreError):
    """The event refers to something the core has not heard of yet (it may arrive). Retryable."""

    retryable = True


class InvalidPayload(CoreError):
    """The payload cannot be mapped to the canonical model. Not retryable: it is poison."""

    def __init__(self, message: str, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []

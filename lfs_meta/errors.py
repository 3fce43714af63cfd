from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: printed as one line, never as a traceback."""

    exit_code = 2


class CheckFailed(UserError):
    """Input was read but did not pass a check (an invalid index, drift, ...)."""

    exit_code = 1


class RemoteError(CheckFailed):
    """The remote store answered, but not with the object: missing, denied, wrong region."""


class NotFound(RemoteError):
    """The store says the object (or its bucket or container) does not exist."""


class VersionGone(RemoteError):
    """The object exists, or did, but not the version asked for."""


class Unreachable(RemoteError):
    """No answer that says anything about the object: network, timeout, throttling after retries."""


class Changed(RemoteError):
    """The object is no longer the one recorded: a conditional download found another ETag."""

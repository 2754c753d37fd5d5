"""One small exception hierarchy, so callers can tell what kind of trouble they are in.

Each class says when it is raised; the daemon's loop decides what each one means
(a config error stops start-up, a fetch error backs off, a parse error quarantines).
"""


class TriajeError(Exception):
    """Base of every error triaje raises on purpose."""


class ConfigError(TriajeError):
    """The configuration is missing, unreadable, or has a wrong key or value.

    The message always names the file, the key and the fix.
    """

    def __init__(self, key: str, problem: str, fix: str, path: str | None = None) -> None:
        self.key, self.problem, self.fix, self.path = key, problem, fix, path
        where = f"{path}: " if path else ""
        super().__init__(f"{where}[{key}] {problem}. Fix: {fix}")


class SecretError(ConfigError):
    """A password or token could not be read from its environment variable or file."""


class TokenCommandError(SecretError):
    """The OAuth2 token command failed at run time: the identity provider may be down, so
    the mailbox is retried with backoff like an unreachable server. Other secret errors
    (an unset variable, a missing file) are configuration mistakes and stop the command."""


class FetchError(TriajeError):
    """A mailbox could not be reached, logged into, or read."""


class LoginRefused(FetchError):
    """The server answered and refused the credentials: no retry will fix it by itself."""


class StageError(TriajeError):
    """A pipeline stage failed on one message; the message is quarantined with the reason."""

    def __init__(self, stage: str, reason: str) -> None:
        self.stage, self.reason = stage, reason
        super().__init__(f"{stage}: {reason}")


class ParseError(StageError):
    """The message could not be turned into a usable record."""

    def __init__(self, reason: str) -> None:
        super().__init__("parse", reason)


class DeliveryError(TriajeError):
    """An outgoing mail could not be handed to the SMTP server."""


class ModelError(TriajeError):
    """A model artefact is missing, corrupt, untrusted, or built for other library versions."""


class DataError(TriajeError):
    """A training or label file is malformed; the message names the row."""


class ClaimLost(TriajeError):
    """A worker's claim on an inbound row ran out and another worker took it: this one's
    writes for that row are rolled back, and the row is left to the other."""

    def __init__(self, inbound_id: int) -> None:
        super().__init__(f"inbound {inbound_id}: claim lost to another worker")

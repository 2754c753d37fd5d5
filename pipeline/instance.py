"""Who holds a lease: one id per running process, `host:pid:token`.

Every lease (an inbound claim, an outbox claim, a mailbox) names its owner, so a daemon
that restarts on the same host can tell its dead predecessor's leases from a live
neighbour's and take them back at once instead of waiting for them to expire. The token
tells a new process from an old one that had the same pid.
"""

from __future__ import annotations

import os
import socket
import uuid

# TRIAJE_INSTANCE_HOST: for hosts that share a name (containers given the same hostname,
# whose first process is pid 1 in each): without a name of its own, each would think the
# other's leases belong to a dead predecessor and take them at once.
HOST = os.environ.get("TRIAJE_INSTANCE_HOST") or socket.gethostname()
_LOCAL: set[str] = set()  # the ids handed out in this process (tests run several)


def new_id() -> str:
    made = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    _LOCAL.add(made)
    return made


def is_dead(owner: str | None, me: str) -> bool:
    """True only when `owner` surely died: same host, and its process is gone (or its pid
    is ours but the id is not from this process: a restart that got the same pid, as a
    container's first process does). Another host's owner is left to its lease."""
    parts = (owner or "").rsplit(":", 2)
    if owner == me or len(parts) != 3 or parts[0] != HOST or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return owner not in _LOCAL
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, as another user
        return False
    return False

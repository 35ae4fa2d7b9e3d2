"""systemd integration: socket activation and sd_notify, with no libsystemd needed.

:func:`listen_fds` / :func:`listen_fds_raw` take the sockets passed by
``systemd`` or ``systemd-socket-activate``; :func:`notify` reports state
(``READY=1``, ``STATUS=…``, ``FDSTORE=1`` with fds) to the service manager; a
:class:`NotifyListener` is the receiving side, for supervisors and tests.
"""

from uds._systemd import (
    LISTEN_FDS_START,
    ActivatedSocket,
    ListenFd,
    NotifyListener,
    NotifyMessage,
    format_notify_state,
    listen_fds,
    listen_fds_raw,
    notify,
    parse_notify_message,
)

__all__ = [
    "LISTEN_FDS_START",
    "ActivatedSocket",
    "ListenFd",
    "NotifyListener",
    "NotifyMessage",
    "format_notify_state",
    "listen_fds",
    "listen_fds_raw",
    "notify",
    "parse_notify_message",
]

"""systemd integration: socket activation and sd_notify, with no libsystemd needed.

:func:`listen_fds` / :func:`listen_fds_raw` take the sockets passed by
``systemd`` or ``systemd-socket-activate``; :func:`notify` reports state
(``READY=1``, ``STATUS=…``, ``WATCHDOG=1``) to the service manager;
:func:`store_fds` / :func:`remove_stored_fds` use its fd store to hand sockets
to the next instance of the service; :func:`notify_barrier` waits until the
manager has read everything sent before; :func:`watchdog_enabled` says whether
(and how often) the manager expects ``WATCHDOG=1``. A :class:`NotifyListener` is
the receiving side, for supervisors and tests.
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
    notify_barrier,
    parse_notify_message,
    remove_stored_fds,
    store_fds,
    watchdog_enabled,
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
    "notify_barrier",
    "parse_notify_message",
    "remove_stored_fds",
    "store_fds",
    "watchdog_enabled",
]

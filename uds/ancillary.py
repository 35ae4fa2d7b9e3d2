"""Control messages: fds, credentials, timestamps, pidfds and security labels.

:func:`send_ancillary` and :func:`recv_ancillary` are the engine under every
send/receive-with-control-data function of the library. The ``set_*`` functions
enable, on the receiving socket, the control data the kernel attaches to each
message (see :class:`Received` for which socket types get what);
:func:`set_passrights` makes a socket refuse fds altogether.
"""

from uds._ancillary import Received, recv_ancillary, send_ancillary
from uds._credentials import ReceivedCredentials, SendCredentials
from uds._fds import ReceivedFds
from uds._sockopts import (
    get_passcred,
    get_passrights,
    set_nosigpipe,
    set_passcred,
    set_passpidfd,
    set_passrights,
    set_passsec,
    set_timestamps,
)

__all__ = [
    "Received",
    "ReceivedCredentials",
    "ReceivedFds",
    "SendCredentials",
    "get_passcred",
    "get_passrights",
    "recv_ancillary",
    "send_ancillary",
    "set_nosigpipe",
    "set_passcred",
    "set_passpidfd",
    "set_passrights",
    "set_passsec",
    "set_timestamps",
]

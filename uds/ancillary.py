"""Control messages: fds, credentials, timestamps, pidfds and security labels.

:func:`send_ancillary` and :func:`recv_ancillary` are the engine under every
send/receive-with-control-data function of the library.
"""

from uds._ancillary import Received, recv_ancillary, send_ancillary
from uds._credentials import ReceivedCredentials, SendCredentials
from uds._fds import ReceivedFds

__all__ = [
    "Received",
    "ReceivedCredentials",
    "ReceivedFds",
    "SendCredentials",
    "recv_ancillary",
    "send_ancillary",
]

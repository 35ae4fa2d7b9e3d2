"""Non-blocking unix sockets in the shape of mio-uds: UnixStream, UnixListener, UnixDatagram.

They are created non-blocking and close-on-exec, own their fd, expose
``fileno()`` (so a :class:`~uds_mio_compat.Registry` and every ``uds``
extension function accept them), and raise :class:`BlockingIOError` where a
blocking socket would wait.
"""

from uds_mio_compat._net_datagram import UnixDatagram
from uds_mio_compat._net_listener import UnixListener
from uds_mio_compat._net_stream import UnixStream

__all__ = ["UnixDatagram", "UnixListener", "UnixStream"]

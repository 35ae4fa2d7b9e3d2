"""A mio-shaped readiness API (Poll, Registry, Token, Interest) over any selector.

Register sources (fds, or objects with ``fileno()`` such as the types of
:mod:`uds_mio_compat.net`, ``uds.nonblocking`` seqpacket sockets and stdlib
sockets) with ``poll.registry``, then call :meth:`Poll.poll` to learn which are
ready::

    poll = Poll()
    events = Events.with_capacity(128)
    poll.registry.register(listener, Token(0), Interest.READABLE)
    while True:
        poll.poll(events)
        for event in events:
            ...

The selector behind a :class:`Poll` is pluggable: ``Poll(selector=...)`` takes
a class or an instance of ``selectors.SelectSelector``, ``PollSelector``,
``EpollSelector``, ``DefaultSelector`` (the default), selectors2's selectors
(see :func:`load_selectors2`) or any other ``BaseSelector``.

Level-triggered readiness
-------------------------
mio is edge-triggered: it reports a change to ready once. Python's selectors
are level-triggered, and so is this module: every poll reports each source
that is ready *now*, again and again until the condition goes away. Users
must therefore either consume readiness (read until ``BlockingIOError``,
accept until ``BlockingIOError``) or drop the interest (``reregister`` without
``WRITABLE`` when there is nothing to write, ``deregister``): a source left
ready makes every poll return at once.

Draining readiness
------------------
Code written for mio, which must read or write until ``WouldBlock`` before the
next event can come, is correct here too: draining is never *required* for
correctness, since an undrained source is reported again, but it saves a poll
round trip per message. Stopping early (for fairness between connections) is
safe for the same reason. A :class:`Waker`'s readiness is drained by Poll
itself when it reports the waker's event.

Spurious events
---------------
A reported event is a hint, not a promise: another thread or an earlier
handler in the same batch may already have consumed the data, so every
operation must be ready to get ``BlockingIOError`` and go back to polling.
Events of a source that was deregistered or reregistered after the poll are
not yielded. :class:`Events` keeps at most ``capacity`` events per poll; the
rest are reported by the next poll.

Hang-ups and errors
-------------------
Selectors report only readable and writable; a hang-up or an error shows as
readiness (the next read returns ``b""`` or raises). :class:`Event` also
answers ``is_read_closed()``, ``is_write_closed()`` and ``is_error()``:

- When Poll creates a stdlib ``EpollSelector`` or ``PollSelector`` (the
  default on Linux), the answers come from the same ``epoll_wait``/``poll``
  call as the readiness: the kernel's ``HUP``, ``RDHUP`` and ``ERR`` bits
  (``RDHUP`` is requested with every readable interest).
- With any other selector, or a selector instance passed in, the first of
  these calls on an event asks ``poll(2)`` about the fd with a zero timeout
  (one system call); the answer describes the fd at that moment.

Sources closed while registered
-------------------------------
Deregister a source before closing it. A source closed while still registered
is left to the selector, and each does something else with it:

- epoll (``EpollSelector``, the default on Linux): the kernel drops the
  registration once no fd refers to the open file any more, so the source is
  silently never reported again (while a ``dup`` of it is open, the file keeps
  being reported under the old token).
- poll (``PollSelector``): every poll reports the source as ready (per its
  interest) with ``is_error()`` true (``POLLNVAL``), until it is deregistered.
- select (``SelectSelector``): every :meth:`Poll.poll` raises ``OSError``
  ``EBADF``, until it is deregistered.

Deregistering the closed fd's number works with every selector. Once the OS
reuses that number for a new fd, the poll and select selectors watch the new
fd under the old token.

Closing
-------
:meth:`Poll.close` closes the selector, not the registered sources or wakers,
and may be called again. After it, like operations on a closed file, every
operation of the Poll and its registries (``poll``, ``register``,
``reregister``, ``deregister``, ``try_clone``, creating a :class:`Waker`)
raises ``ValueError``. A Waker stays usable until it is closed itself.

Signals
-------
A signal handler that raises interrupts :meth:`Poll.poll` with its exception.
One that returns does not end the wait: the selector resumes it with the
remaining timeout (PEP 475). To end a wait early, call :meth:`Waker.wake`
(from the handler or from another thread).

Threads
-------
Only :meth:`Waker.wake` may be called from another thread than the polling one.
It is safe against a concurrent :meth:`Waker.close`: once ``close`` returns,
``wake`` raises ``ValueError`` and never writes to the fd's reused number.
"""

from uds_mio_compat._event import Event, Events
from uds_mio_compat._interest import Interest
from uds_mio_compat._poll import Poll
from uds_mio_compat._registry import Registry
from uds_mio_compat._selectors2_loader import load_selectors2
from uds_mio_compat._token import Token
from uds_mio_compat._waker import Waker

__all__ = [
    "Event",
    "Events",
    "Interest",
    "Poll",
    "Registry",
    "Token",
    "Waker",
    "load_selectors2",
]

"""Hypothesis strategies shared by the fuzz tests."""

from __future__ import annotations

import socket
from array import array

from hypothesis import strategies as st

SCM_RIGHTS = socket.SCM_RIGHTS
SCM_CREDENTIALS = socket.SCM_CREDENTIALS

# One control message of random level and type: fd arrays with bogus numbers
# (negative, huge, not open, standard streams) or random bytes.
bogus_cmsg = st.tuples(
    st.sampled_from([socket.SOL_SOCKET, socket.SOL_SOCKET, 0, 6, 17, 0x7FFFFFFF]),
    st.sampled_from([SCM_RIGHTS, SCM_RIGHTS, SCM_CREDENTIALS, 0, 3, 4, 29, 35, 99]),
    st.one_of(
        # fd arrays with bogus numbers: negative, huge, closed, standard streams
        st.lists(st.sampled_from([-1, -(2**31), 2**31 - 1, 999_999, 0, 1, 2]), max_size=6).map(
            lambda fds: array("i", fds).tobytes()
        ),
        st.binary(max_size=64),
    ),
)


# Messages the kernel accepts: real fds (the standard streams) in SCM_RIGHTS,
# mixed with control messages of other levels, which unix sockets skip.
valid_rights = st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=6).map(
    lambda fds: (socket.SOL_SOCKET, SCM_RIGHTS, array("i", fds).tobytes())
)
foreign_level = st.tuples(
    st.sampled_from([0, 6, 17, 0x7FFFFFFF]), st.integers(0, 99), st.binary(max_size=64)
)
hand_made_ancillary = st.one_of(
    st.lists(bogus_cmsg, min_size=1, max_size=4),
    st.lists(st.one_of(valid_rights, foreign_level), min_size=1, max_size=4),
)

"""Per-OS constants and pure struct parsers, one module per platform.

Each module defines the same names (see :mod:`uds._sys.linux`); :mod:`uds._platform`
picks one at import time. The modules import nothing OS-specific, so the parsers of
every platform can be unit-tested on recorded byte layouts from any machine.
"""

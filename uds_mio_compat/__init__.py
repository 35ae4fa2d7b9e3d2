"""A mio-shaped readiness API (Poll, Registry, Token, Interest) over any selector."""

__all__: list[str] = []

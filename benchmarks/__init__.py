"""The benchmark suite: ``python -m benchmarks`` prints ns/op per case and implementation.

Every case runs this library and its baselines (the stdlib by hand, the stdlib
helpers, multiprocessing.reduction, anyio where installed) round-robin in the
same process, and the C limit when a compiler is present. See ``--help``.
"""

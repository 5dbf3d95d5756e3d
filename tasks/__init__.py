"""Thin Prefect adapters over the pure core in ``bnpipe``.

A task here owns what the core must not: Prefect logging, timeouts, an
explicit ``cache_policy`` (a DataFrame or a Keras model is a poor cache key,
so every task opts out of input hashing), and side effects such as files in
the state folder and MLflow writes. The logic lives in ``bnpipe``.
"""

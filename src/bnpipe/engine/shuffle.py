"""The compiled engine's row order per epoch: a stateless permutation keyed on
(seed, epoch), bit-identical eagerly, under XLA and on any machine."""

from __future__ import annotations

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9  # keeps a zero seed/epoch away from the hash's fixed point 0


def _mul32(tf, a, c: int):
    """``a * c mod 2**32`` for int64 ``0 <= a < 2**32`` without int64 overflow."""
    lo = a * (c & 0xFFFF)
    hi = tf.bitwise.bitwise_and(a * (c >> 16), 0xFFFF) * 0x10000
    return tf.bitwise.bitwise_and(lo + hi, _M32)


def _mix32(tf, a):
    """A bijective 32-bit integer hash (Wellons' lowbias32) in int64 arithmetic."""
    xor, shift = tf.bitwise.bitwise_xor, tf.bitwise.right_shift
    a = xor(a, shift(a, 16))
    a = _mul32(tf, a, 0x7FEB352D)
    a = xor(a, shift(a, 15))
    a = _mul32(tf, a, 0x846CA68B)
    return xor(a, shift(a, 16))


def epoch_permutation(seed, epoch, n: int):
    """The row order of ``epoch`` for ``seed``: a stateless permutation of ``range(n)``.

    Each row gets a 32-bit hash of (row, seed, epoch) from exact integer
    arithmetic and rows are sorted by it. The hash is a bijection of the row
    index, so there are no ties, and the result is bit-identical eagerly,
    inside the XLA-compiled loop and on any machine (TF's stateless random
    ops give different numbers under XLA than eagerly), so the compiled
    engine's shuffling can be reproduced outside it.
    """
    import tensorflow as tf

    and_, xor = tf.bitwise.bitwise_and, tf.bitwise.bitwise_xor
    seed = tf.cast(seed, tf.int64)
    key = _mix32(tf, and_(seed + _GOLDEN, _M32))
    key = _mix32(tf, and_(xor(key, and_(tf.bitwise.right_shift(seed, 32), _M32)) + _GOLDEN, _M32))
    key = _mix32(tf, and_(key + tf.cast(epoch, tf.int64) + _GOLDEN, _M32))
    rows = tf.range(n, dtype=tf.int64)
    hashed = _mix32(tf, and_(_mix32(tf, xor(rows, key)) + key, _M32))
    return tf.argsort(hashed, stable=True)

"""``ember.backends.mkl``: ember does not call MKL directly (NumPy's BLAS does the matrix products)."""


def is_available() -> bool:
    return False

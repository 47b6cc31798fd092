"""``ember.backends.mkldnn``: oneDNN, which ember does not use (its CPU kernels are NumPy's)."""
enabled = True
deterministic = False


def is_available() -> bool:
    return False

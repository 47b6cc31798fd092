"""``ember.backends.openmp``: ember does not use OpenMP itself."""


def is_available() -> bool:
    return False

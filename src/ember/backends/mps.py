"""``ember.backends.mps``: Apple's Metal backend, which ember does not have."""


def is_available() -> bool:
    """False: ember has no MPS (Apple GPU) backend; use the CPU."""
    return False


def is_built() -> bool:
    """False: ember is not built with MPS support."""
    return False


def is_macos13_or_newer(minor: int = 0) -> bool:
    return False


def is_macos_or_newer(major: int, minor: int) -> bool:
    return False

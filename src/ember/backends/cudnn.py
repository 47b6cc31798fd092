"""``ember.backends.cudnn``: cuDNN flags (accepted; ember has no cuDNN kernels of its own)."""
enabled = True
benchmark = False
benchmark_limit = 10
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """False: ember does not call cuDNN (its GPU path is CuPy's own kernels)."""
    return False


def version():
    """None, as torch answers when cuDNN is not available."""
    return None


def is_acceptable(tensor) -> bool:
    return False

"""``ember.backends.cpu``: the CPU capability ember's kernels target."""


def get_cpu_capability() -> str:
    """``"DEFAULT"``: ember's kernels are NumPy's, which pick their SIMD code paths at run time."""
    return "DEFAULT"

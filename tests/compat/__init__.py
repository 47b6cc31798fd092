"""Small, realistic torch programs written once against a torch-like module.

Each program is a plain function ``program(torch, sync, ...)`` that uses only the public torch API
through its ``torch`` argument (``torch.nn``, ``torch.optim``, ``torch.utils.data``,
``torch.nn.functional``), so the same source runs with ``torch`` and with ``ember`` passed as
``torch``. ``sync(name, module)`` is called right after a model is built: the torch run records the
initial weights, the ember run loads them (the two libraries' random streams differ). Programs return
a dict of final numbers that ``tests/test_compat.py`` compares.
"""

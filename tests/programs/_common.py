"""Helpers the programs share: the same starting weights in every framework, and number formatting.

Frameworks draw different random initial weights, so a program that wants identical numbers under
torch and ember loads its starting weights from a seeded NumPy stream through ``load_state_dict``
(as a program loading pretrained weights would).
"""
import numpy as np
import torch


def same_init(model, seed=0, scale=None):
    """Overwrite every floating-point parameter with uniform(-b, b) values, b = 1/sqrt(fan_in)."""
    rng = np.random.default_rng(seed)
    sd = model.state_dict()
    names = {n for n, _ in model.named_parameters()}
    for k, v in sd.items():
        if k not in names:
            continue
        shape = tuple(v.shape)
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        b = scale if scale is not None else 1.0 / np.sqrt(max(fan_in, 1))
        sd[k] = torch.tensor(rng.uniform(-b, b, size=shape), dtype=v.dtype)
    model.load_state_dict(sd)
    return model

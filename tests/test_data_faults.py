"""DataLoader under bad input: samples mixing numbers and strings are refused at collate (as torch
refuses them); strings collate as lists."""

import numpy as np
import pytest

from ember.utils.data import default_collate


@pytest.mark.parametrize("batch", [[1, "a"], [(np.zeros(2, np.float32), 1), (np.zeros(2, np.float32), "x")],
                                   [{"y": 2.5}, {"y": "b"}], [np.int64(1), "a"]])
def test_numbers_mixed_with_strings_raise_at_collate_like_torch(batch):
    pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    with pytest.raises(TypeError):
        torch_collate(batch)
    with pytest.raises(TypeError, match=r"default_collate: the samples at this position mix .*str"):
        default_collate(batch)


def test_strings_collate_as_lists_like_torch():
    pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    for batch in (["a", "b"], ["a", 1], [("x", 1), ("y", 2)]):
        got, want = default_collate(batch), torch_collate(batch)
        if isinstance(want, list) and want and hasattr(want[-1], "tolist"):
            assert got[0] == want[0] and got[1].tolist() == want[1].tolist()
        else:
            assert got == want


class _Dies:
    """A dataset whose sample 9 ends its worker process (os._exit or SIGKILL)."""

    def __init__(self, how):
        self.how = how

    def __len__(self):
        return 40

    def __getitem__(self, i):
        import os
        import signal

        import ember

        if i == 9:
            if self.how == "exit":
                os._exit(3)
            os.kill(os.getpid(), signal.SIGKILL)
        return ember.tensor([float(i)])


@pytest.mark.parametrize("how,match", [("exit", "exited unexpectedly with exit code 3"), ("kill", "was killed by signal 9")])
def test_a_worker_that_dies_in_getitem_names_the_worker_and_the_batch(how, match):
    from ember.utils.data import DataLoader

    loader = DataLoader(_Dies(how), batch_size=2, num_workers=2, timeout=30)
    with pytest.raises(RuntimeError, match=rf"DataLoader worker \d \(pid \d+\) {match} while loading batch 4 "
                                           r"of this iteration \(dataset indices \[8, 9\]\)"):
        for _ in loader:
            pass

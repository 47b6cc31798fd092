"""The layer classes of ``ember.nn``."""
from .activation import *  # noqa: F401,F403
from .activation import __all__ as _act
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .dropout import *  # noqa: F401,F403
from .dropout import __all__ as _drop
from .flatten import Flatten, Unflatten
from .linear import Bilinear, Identity, LazyLinear, Linear
from .loss import *  # noqa: F401,F403
from .loss import __all__ as _loss
from .module import Module, RemovableHandle
from .normalization import *  # noqa: F401,F403
from .normalization import __all__ as _norm
from .sparse import Embedding

__all__ = [
    "Module", "RemovableHandle", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
    "Identity", "Linear", "LazyLinear", "Bilinear", "Flatten", "Unflatten", "Embedding",
    *_act, *_drop, *_loss, *_norm,
]

# Layers written in other files of this package (convolution, pooling, recurrent, attention); they are
# imported once they exist in the tree.
try:  # noqa: SIM105 - temporary until those files land
    from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d  # noqa: F401
    from .pooling import (  # noqa: F401
        AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d,
    )
    from .upsampling import Upsample  # noqa: F401
    from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: F401
    from .activation_attention import MultiheadAttention  # noqa: F401
    from .transformer import (  # noqa: F401
        TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
    )
except ImportError:
    pass

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

# convolution, pooling, upsampling, recurrent and attention layers
from .activation_attention import MultiheadAttention
from .fold import Fold, Unfold
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .pooling import (
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, MaxPool1d,
    MaxPool2d, MaxPool3d, AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d, LPPool1d, LPPool2d, LPPool3d,
    FractionalMaxPool2d, FractionalMaxPool3d,
)
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .transformer import (
    Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
    generate_square_subsequent_mask,
)
from .upsampling import Upsample
from .extra import *  # noqa: E402,F401,F403
from .extra import __all__ as _extra

__all__ += [
    "Fold", "Unfold", "FractionalMaxPool2d", "FractionalMaxPool3d", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool3d", "LPPool1d", "LPPool2d", "LPPool3d", "Upsample", "RNN", "LSTM", "GRU", "RNNCell",
    "LSTMCell", "GRUCell", "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder",
    "TransformerDecoderLayer", "TransformerDecoder", "Transformer", "generate_square_subsequent_mask", *_extra,
]
from .more import *  # noqa: E402,F401,F403
from .more import __all__ as _more
from .rnn import RNNBase, RNNCellBase  # noqa: E402

__all__ += [*_more, "RNNBase", "RNNCellBase"]
from .lazy import *  # noqa: E402,F401,F403
from .lazy import __all__ as _lazy

__all__ += [*_lazy]

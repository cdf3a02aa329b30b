"""headstart: freeze a pre-trained text encoder θ, train only a small head ω on its cached features.

>>> from headstart import FrozenEncoderClassifier
>>> model = FrozenEncoderClassifier().fit(texts, labels)
>>> model.predict(["where is my bag?"])
"""

from .cache import EmbeddingCache
from .encoders import Encoder, load_encoder
from .errors import HeadstartError, NotFittedError
from .features import FeatureSpec, FrozenFeatures
from .params import InvalidParameterError
from .strategies import FineTunedClassifier, FrozenEncoderClassifier, TfidfClassifier, ZeroShotClassifier, build, load

__version__ = "0.1.0"

__all__ = [
    "EmbeddingCache",
    "Encoder",
    "FeatureSpec",
    "FineTunedClassifier",
    "FrozenEncoderClassifier",
    "FrozenFeatures",
    "HeadstartError",
    "InvalidParameterError",
    "NotFittedError",
    "TfidfClassifier",
    "ZeroShotClassifier",
    "build",
    "load",
    "load_encoder",
]

"""headstart: freeze a pre-trained text encoder θ, train only a small head ω on its cached features.

>>> from headstart import FrozenEncoderClassifier
>>> model = FrozenEncoderClassifier().fit(texts, labels)
>>> model.predict(["where is my bag?"])
"""

import importlib

__version__ = "0.1.0"

# Each public name and the module it lives in, imported on first use: torch, transformers and scikit-learn take
# seconds to import, and `headstart --help` or a module that needs only the errors should not wait for them.
_EXPORTS = {
    "EmbeddingCache": ".cache",
    "Encoder": ".encoders",
    "load_encoder": ".encoders",
    "HeadstartError": ".errors",
    "NotFittedError": ".errors",
    "FeatureSpec": ".features",
    "FrozenFeatures": ".features",
    "InvalidParameterError": ".params",
    "FineTunedClassifier": ".strategies",
    "FrozenEncoderClassifier": ".strategies",
    "TfidfClassifier": ".strategies",
    "ZeroShotClassifier": ".strategies",
    "build": ".strategies",
    "load": ".strategies",
    "suggest": ".labeling",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

"""sednn: semantic-embedded multi-label classification, on Clothing Co-Parsing or on your own data."""
from sednn.core.profiles import PROFILES, get_profile

__version__ = "0.1.0"
__all__ = ["Run", "PROFILES", "get_profile", "__version__"]


def __getattr__(name: str):
    """``sednn.Run`` on first use: ``import sednn`` (and ``python -m sednn.data.check``) loads no torch."""
    if name == "Run":
        from sednn.study.run import Run

        return Run
    raise AttributeError(f"module 'sednn' has no attribute {name!r}")

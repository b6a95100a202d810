"""sednn: semantic-embedded multi-label classification, on Clothing Co-Parsing or on your own data."""
from .experiment import Run
from .profiles import PROFILES, get_profile

__version__ = "0.1.0"
__all__ = ["Run", "PROFILES", "get_profile", "__version__"]

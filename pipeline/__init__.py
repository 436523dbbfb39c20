"""cyber-bordereaux: the monthly batch processor for Japanese cyber-insurance bordereaux."""

from pipeline.memory import arrow_pool_chosen

__version__ = "0.1.0"

arrow_pool_chosen()

"""bnpipe: plain vs BatchNormalization MLP comparison as an orchestrated pipeline.

The package is the pure core: no Prefect imports and no work at import time.
"""

__version__ = "0.1.0"

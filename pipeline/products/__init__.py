"""Product and treaty definitions, loaded from the data files an actuary edits (``data/``)."""

from pipeline.products.load import (
    DEFAULT_PRODUCTS_DIR,
    Product,
    ProductBook,
    ProductDataError,
    load_products,
)

__all__ = ["DEFAULT_PRODUCTS_DIR", "Product", "ProductBook", "ProductDataError", "load_products"]

"""pandera schemas, one module per table, chained raw -> valid -> computed.

Every stage of ``pipeline`` takes frames described by one of these models and returns frames
described by the next: ``PolicyValid -> PolicyPriced -> PolicyAccounted``,
``ClaimValid -> ClaimTotals``, ``LineValid -> LineAdjudicated``.
"""

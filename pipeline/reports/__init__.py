"""Portfolio summary, reinsurance report, triangles and charts built from stage outputs."""

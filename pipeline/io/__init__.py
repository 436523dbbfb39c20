"""Reading bordereaux and writing outputs: the only package that touches files."""

"""``python -m pipeline.sample --output DIR [--policies N] [--seed S] [--months N] [--clean]``."""

from pipeline.sample.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

import sys

from pipeline.bench.cli import main

sys.exit(main())

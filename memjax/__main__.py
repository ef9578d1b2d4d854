"""`python -m memjax ...`: the same command line as `memjax ...`."""

import sys

from memjax.cli import main

sys.exit(main())

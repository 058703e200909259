"""`python -m audiollm` is the `audiollm` command."""

import sys

from audiollm.cli import main

sys.exit(main())

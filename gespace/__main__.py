"""`python -m gespace` is the `gespace` command."""
import sys

from gespace.cli import main

sys.exit(main())

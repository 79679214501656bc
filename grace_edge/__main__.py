import sys

from grace_edge.cli import main

sys.exit(main())

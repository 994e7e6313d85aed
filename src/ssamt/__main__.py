import sys

from ssamt.cli import main

sys.exit(main())

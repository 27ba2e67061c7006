import sys

from tuplet.cli import main

sys.exit(main())

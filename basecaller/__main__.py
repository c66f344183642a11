import sys

from basecaller.cli import main

sys.exit(main())

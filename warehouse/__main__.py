import sys

from warehouse.server import main

sys.exit(main())

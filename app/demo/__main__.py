"""`python -m app.demo`: the demo, as `make demo` runs it."""

import sys

from app.demo.run import main

sys.exit(main())

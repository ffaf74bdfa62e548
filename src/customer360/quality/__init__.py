"""Great Expectations suites and the quality gates."""

import logging

# GX logs its own internals at info level (closures it skips registering, unknown
# defaults, the {batch} hint for our whole-table queries): hundreds of lines per run
# that bury the checks' results in the task logs. Its warnings still show.
logging.getLogger("great_expectations").setLevel(logging.WARNING)

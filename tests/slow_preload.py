"""A module for local workers to preload in tests: it says when its import starts (touching the file named by
ICAA_TEST_PRELOAD_STARTED), then takes ICAA_TEST_PRELOAD_SECONDS to import."""

import os
import time

if os.environ.get("ICAA_TEST_PRELOAD_STARTED"):
    open(os.environ["ICAA_TEST_PRELOAD_STARTED"], "w").close()
time.sleep(float(os.environ.get("ICAA_TEST_PRELOAD_SECONDS", "0")))

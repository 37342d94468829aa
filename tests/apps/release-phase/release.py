"""The release phase: runs once per release, with its config, before any of its processes start (a migration)."""

import os

print(f"release phase of {os.environ['PAAS_RELEASE']}: migrations applied", flush=True)

"""A release phase that fails: the release is marked failed, and what was serving keeps serving."""

import sys

print("migration 0002 failed: column already exists", flush=True)
sys.exit(1)

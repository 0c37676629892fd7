"""The interop tier: modelport against real servers (see conftest.py)."""

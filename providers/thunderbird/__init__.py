"""Thunderbird profiles: ``thunderbird:`` (every profile) or ``thunderbird:PROFILE_DIR``."""

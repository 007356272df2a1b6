"""Scheduled scans: state file, incremental scan, watch loop and the token delivery actions."""

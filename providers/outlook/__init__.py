"""Outlook / Microsoft 365 through Microsoft Graph (Mail.Read)."""

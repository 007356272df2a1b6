"""Salesforce itself: the SOAP login check and the Salesforce password sources."""

"""HTTP emulators the real client libraries talk to (Gmail API, Graph + identity, Salesforce
SOAP login) and a fault-injecting TCP/TLS proxy. Test infrastructure; not shipped."""

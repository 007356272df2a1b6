"""Whether a token mail came from Salesforce: sender domains, Authentication-Results, DKIM."""

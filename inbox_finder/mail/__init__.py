"""Mail handling: MIME parsing, header tests, HTML to text, the template table and extraction."""

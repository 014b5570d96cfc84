"""HTTP+JSON/REST (A2A v1.0 section 11): the URL table, request parsing, response encoding."""

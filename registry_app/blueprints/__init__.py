"""One blueprint per resource of the API; each knows HTTP and nothing of storage paths."""

"""asmp."""

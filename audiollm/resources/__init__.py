"""Small resources the demo needs, made on this machine rather than shipped."""

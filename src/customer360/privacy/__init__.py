"""Personal data: pseudonymised keys, the right to erasure and the suppression list."""

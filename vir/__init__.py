"""The `vir` operator command line."""

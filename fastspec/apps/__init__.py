"""Applications: file-level commands built on the library (the CLI's engines)."""

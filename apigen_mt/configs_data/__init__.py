"""Ready run configurations shipped with the package (see apigen_mt.config)."""

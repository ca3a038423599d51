"""Market-data store, importers, providers, synthetic generator and the data CLI."""

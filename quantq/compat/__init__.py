"""Drop-in helpers with the seeds' own Python signatures."""

"""The live pipeline: every window of a service hall watched at once (`etiquette run`)."""

"""etiquette: service-etiquette monitoring for government service-center windows."""

__version__ = "0.1.0"

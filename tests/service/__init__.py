"""Tests of the supervision service (etiquette.service)."""

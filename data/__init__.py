"""Persistence: tables, the engine and session factory, migrations, seed data."""

"""Importers: other formats -> golden records (pure parsing; loading goes through restore)."""

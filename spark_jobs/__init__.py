"""PySpark jobs of Andon Lakehouse: ``common`` (session, Delta I/O) and ``landing`` (bronze/silver)."""

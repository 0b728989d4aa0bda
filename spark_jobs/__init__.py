"""PySpark jobs of Andon Lakehouse: ``landing`` (files -> bronze -> silver) and ``mart`` (the dbt build)."""

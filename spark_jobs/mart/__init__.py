"""The dbt quality mart build (dbt-spark in session mode, on the project's Spark session)."""

"""SparkSession construction and Delta Lake I/O shared by every job."""

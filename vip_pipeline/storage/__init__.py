"""Storage seams: the SQL warehouse BI reads, and the Parquet staging area between steps."""

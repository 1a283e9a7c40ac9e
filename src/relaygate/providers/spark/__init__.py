from relaygate.providers.spark.adapter import SparkAdapter

__all__ = ["SparkAdapter"]

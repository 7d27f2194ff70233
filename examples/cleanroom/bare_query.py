"""The clean-room example's query as a plain PySpark job, without governance: the peer the
clean-room benchmark times a governed run against (scripts/bench cleanroom).

spark-submit bare_query.py BANK_DIR RETAILER_DIR OUTPUT_DIR
"""

import sys

from pyspark.sql import SparkSession


def main(bank, retailer, output):
    spark = SparkSession.builder.appName("bare-clean-room-query").getOrCreate()
    spark.read.schema("customer_id STRING, region STRING, age_band STRING").csv(bank).createOrReplaceTempView(
        "bank_customers"
    )
    spark.read.schema("customer_id STRING, category STRING, amount DOUBLE").csv(retailer).createOrReplaceTempView(
        "retail_purchases"
    )
    result = spark.sql(
        "SELECT b.region, p.category, COUNT(DISTINCT b.customer_id) AS customers, ROUND(SUM(p.amount), 2) AS total "
        "FROM bank_customers b JOIN retail_purchases p ON b.customer_id = p.customer_id "
        "GROUP BY b.region, p.category"
    ).where("customers >= 2")
    result.write.mode("overwrite").json(output)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])

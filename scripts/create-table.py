"""Creates a table in the official LaunchDarkly layout (used by the demo against DynamoDB Local).

    python scripts/create-table.py <table-name>
"""
import sys

import boto3

name = sys.argv[1]
dynamodb = boto3.client("dynamodb")
if name not in dynamodb.list_tables()["TableNames"]:
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "namespace", "AttributeType": "S"},
            {"AttributeName": "key", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "namespace", "KeyType": "HASH"},
            {"AttributeName": "key", "KeyType": "RANGE"},
        ],
    )
    dynamodb.get_waiter("table_exists").wait(TableName=name)
print(f"table {name}: partition key namespace (S), sort key key (S), on-demand")

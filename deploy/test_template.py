"""Assertions on the CloudFormation template that `serverless package` generates (offline).

Run by `make check-deploy` after `serverless package --stage staging`, once per deployment
shape, with the same settings in the environment as the packaging saw:
    ARCH=x86_64 EXAMPLES=true python3 deploy/test_template.py .serverless
"""
import json
import os
import re
import sys
import unittest

PACKAGE_DIR = sys.argv[1] if len(sys.argv) > 1 else ".serverless"
STAGE = os.environ.get("STAGE", "staging")
# What serverless.yml reads from the environment, with its defaults.
ARCH = os.environ.get("ARCH") or "arm64"
EXAMPLES = os.environ.get("EXAMPLES", "false") == "true"
TABLE = os.environ.get("TABLE_NAME") or f"launchdarkly-{STAGE}"
SSM_PATH = os.environ.get("SSM_PATH") or f"/launchdarkly/{STAGE}"
CONCURRENCY = os.environ.get("SYNCER_CONCURRENCY")
CAPACITY_PROVIDER = os.environ.get("CAPACITY_PROVIDER", "")
CAPACITY_PROVIDER_SUBNETS = os.environ.get("CAPACITY_PROVIDER_SUBNETS", "")
CAPACITY_PROVIDER_SECURITY_GROUPS = os.environ.get("CAPACITY_PROVIDER_SECURITY_GROUPS", "")
CAPACITY_PROVIDER_MAX_VCPUS = os.environ.get("CAPACITY_PROVIDER_MAX_VCPUS", "")
MAX_CONCURRENCY = os.environ.get("MAX_CONCURRENCY") or "64"
LAYER_OF = {"x86_64": "OfrepLambdaLayer", "arm64": "OfrepArm64LambdaLayer"}
OUTPUT_OF = {"x86_64": "OfrepLayerArn", "arm64": "OfrepLayerArm64Arn"}
# The layer's architectures: the functions' unless LAYER_ARCHS says otherwise ("both").
LAYER_ARCHS = os.environ.get("LAYER_ARCHS") or ARCH
LAYER_ARCH_LIST = ["x86_64", "arm64"] if LAYER_ARCHS == "both" else [LAYER_ARCHS]


def load():
    with open(os.path.join(PACKAGE_DIR, "cloudformation-template-update-stack.json")) as f:
        return json.load(f)


def resources_of_type(template, kind):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def statements(role):
    return [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def as_list(value):
    return value if isinstance(value, list) else [value]


class Template(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = load()
        cls.text = json.dumps(cls.t)
        cls.functions = resources_of_type(cls.t, "AWS::Lambda::Function")

    def function(self, name):
        for resource in self.functions.values():
            if resource["Properties"]["FunctionName"] == f"launchdarkly-dynamo-store-{STAGE}-{name}":
                return resource["Properties"]
        self.fail(f"no function {name}")

    def examples_only(self):
        if not EXAMPLES:
            self.skipTest("packaged without the examples")

    def test_functions_run_on_al2023_of_the_chosen_architecture(self):
        self.assertEqual(len(self.functions), 3 if EXAMPLES else 1)
        for name in ["store", "reader"] if EXAMPLES else ["store"]:
            props = self.function(name)
            self.assertEqual(props["Runtime"], "provided.al2023")
            self.assertEqual(props["Architectures"], [ARCH])
            self.assertEqual(props["Handler"], "bootstrap")

    def test_without_examples_only_the_pipeline_is_deployed(self):
        if EXAMPLES:
            self.skipTest("packaged with the examples")
        routes = [r["Properties"]["RouteKey"] for r in resources_of_type(self.t, "AWS::ApiGatewayV2::Route").values()]
        self.assertEqual(routes, ["POST /webhook"])
        # (The capacity provider's operator role exists only when the stack creates one.)
        roles = sorted(resources_of_type(self.t, "AWS::IAM::Role"))
        self.assertEqual(roles, ["CapacityProviderOperatorRole", "SyncerRole"])
        self.assertNotIn("ReaderUrl", self.t["Outputs"])
        self.assertFalse(os.path.exists(os.path.join(PACKAGE_DIR, "node.zip")), "no Node.js package")

    def test_each_function_has_its_own_artifact(self):
        keys = [f["Properties"]["Code"]["S3Key"] for f in self.functions.values()]
        self.assertEqual(len(set(keys)), len(keys), keys)
        self.assertTrue(any(k.endswith("/syncer.zip") for k in keys), keys)
        if EXAMPLES:
            self.assertTrue(any(k.endswith("/example-reader.zip") for k in keys), keys)

    def test_store_function_has_webhook_and_schedule(self):
        self.assertEqual(resources_of_type(self.t, "AWS::ApiGateway::RestApi"), {}, "one HTTP API only")
        routes = [r["Properties"]["RouteKey"] for r in resources_of_type(self.t, "AWS::ApiGatewayV2::Route").values()]
        self.assertIn("POST /webhook", routes)
        rules = resources_of_type(self.t, "AWS::Events::Rule")
        self.assertEqual(len(rules), 1)
        self.assertEqual(list(rules.values())[0]["Properties"]["ScheduleExpression"], "rate(1 hour)")
        store = self.function("store")
        self.assertGreater(store["Timeout"], int(store["Environment"]["Variables"]["LAUNCHDARKLY_SYNC_TIMEOUT_SECONDS"]))

    def test_reader_has_its_http_api_routes(self):
        self.examples_only()
        routes = sorted(r["Properties"]["RouteKey"] for r in resources_of_type(self.t, "AWS::ApiGatewayV2::Route").values())
        self.assertEqual(routes, ["GET /flags", "GET /flags/{key}", "GET /health", "GET /node/flags/{key}",
                                  "POST /ofrep/v1/evaluate/flags", "POST /ofrep/v1/evaluate/flags/{key}",
                                  "POST /webhook"])

    def test_the_reader_api_is_private_and_the_webhook_public(self):
        self.examples_only()
        routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in resources_of_type(self.t, "AWS::ApiGatewayV2::Route").values()}
        for key in ["GET /flags", "GET /flags/{key}", "GET /health", "GET /node/flags/{key}",
                    "POST /ofrep/v1/evaluate/flags", "POST /ofrep/v1/evaluate/flags/{key}"]:
            self.assertEqual(routes[key].get("AuthorizationType"), "AWS_IAM", key)
        self.assertNotEqual(routes["POST /webhook"].get("AuthorizationType"), "AWS_IAM")

    def test_the_public_webhook_costs_are_bounded(self):
        stage = self.t["Resources"]["HttpApiStage"]["Properties"]
        webhook = stage["RouteSettings"]["POST /webhook"]
        self.assertLessEqual(webhook["ThrottlingRateLimit"], 50)
        self.assertLessEqual(webhook["ThrottlingBurstLimit"], 100)
        # Reserved only when asked for: a new account's quota (10) leaves nothing to reserve.
        concurrency = self.function("store").get("ReservedConcurrentExecutions")
        if CONCURRENCY is None:
            self.assertIsNone(concurrency)
        else:
            self.assertEqual(int(concurrency), int(CONCURRENCY))
        lease = int(self.function("store")["Environment"]["Variables"]["LAUNCHDARKLY_LEASE_SECONDS"])
        self.assertLess(lease, self.function("store")["Timeout"] / 4, "the lease is short")

    def test_table_layout_billing_and_recovery(self):
        tables = resources_of_type(self.t, "AWS::DynamoDB::Table")
        self.assertEqual(len(tables), 1)
        props = list(tables.values())[0]["Properties"]
        self.assertEqual(props["TableName"], TABLE)
        self.assertEqual(props["BillingMode"], "PAY_PER_REQUEST")
        self.assertEqual(props["KeySchema"], [
            {"AttributeName": "namespace", "KeyType": "HASH"},
            {"AttributeName": "key", "KeyType": "RANGE"},
        ])
        self.assertEqual(sorted((a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]),
                         [("key", "S"), ("namespace", "S")])
        self.assertTrue(props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"])

    def actions(self, role, service):
        found = []
        for s in statements(self.t["Resources"][role]):
            self.assertEqual(s["Effect"], "Allow")
            for action in as_list(s["Action"]):
                self.assertNotIn("*", action, f"{role}: wildcard action {action}")
                if action.startswith(service + ":"):
                    found.append((action, s["Resource"]))
        return found

    def test_syncer_role_is_least_privilege(self):
        dynamo = self.actions("SyncerRole", "dynamodb")
        # Fenced writes are TransactWriteItems of Put, Delete and ConditionCheck; the lease and
        # tickets are UpdateItem. No BatchWriteItem: every data write is fenced.
        self.assertEqual(sorted(a for a, _ in dynamo), sorted([
            "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem",
            "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]))
        for _, resource in dynamo:
            self.assertEqual(resource, {"Fn::GetAtt": ["FlagsTable", "Arn"]})
        ssm = self.actions("SyncerRole", "ssm")
        self.assertEqual([a for a, _ in ssm], ["ssm:GetParameter"])
        self.assertIn(f":parameter{SSM_PATH}/*", json.dumps(ssm[0][1]))

    def test_reader_role_is_read_only(self):
        self.examples_only()
        dynamo = self.actions("ReaderRole", "dynamodb")
        self.assertEqual(sorted(a for a, _ in dynamo),
                         ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"])
        ssm = self.actions("ReaderRole", "ssm")
        self.assertEqual([a for a, _ in ssm], ["ssm:GetParameter"])
        self.assertTrue(json.dumps(ssm[0][1]).endswith(f':parameter{SSM_PATH}/sdkkey"}}'), ssm)

    def test_node_example_role_is_read_only(self):
        self.examples_only()
        dynamo = self.actions("NodeExampleRole", "dynamodb")
        self.assertEqual(sorted(a for a, _ in dynamo),
                         ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"])
        for _, resource in dynamo:
            self.assertEqual(resource, {"Fn::GetAtt": ["FlagsTable", "Arn"]})
        ssm = self.actions("NodeExampleRole", "ssm")
        self.assertEqual([a for a, _ in ssm], ["ssm:GetParameter"])
        self.assertTrue(json.dumps(ssm[0][1]).endswith(f':parameter{SSM_PATH}/sdkkey"}}'), ssm)

    def test_the_extension_layer_is_published_for_the_architectures_asked_for(self):
        layers = resources_of_type(self.t, "AWS::Lambda::LayerVersion")
        self.assertEqual(sorted(layers), sorted(LAYER_OF[arch] for arch in LAYER_ARCH_LIST))
        names = set()
        for arch in LAYER_ARCH_LIST:
            layer = layers[LAYER_OF[arch]]["Properties"]
            self.assertTrue(layer["Content"]["S3Key"].endswith("/launchdarkly-ofrep-layer.zip"), layer)
            self.assertEqual(layer["CompatibleArchitectures"], [arch])
            names.add(layer["LayerName"])
        self.assertEqual(len(names), len(LAYER_ARCH_LIST))
        outputs = {k for k in self.t["Outputs"] if k.startswith("OfrepLayer")}
        self.assertEqual(outputs, {OUTPUT_OF[arch] for arch in LAYER_ARCH_LIST})
        for arch in LAYER_ARCH_LIST:
            self.assertEqual(self.t["Outputs"][OUTPUT_OF[arch]]["Value"], {"Ref": LAYER_OF[arch]})

    def test_the_layers_hold_binaries_of_their_architecture(self):
        import zipfile
        dist = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dist")
        machines = {"x86_64": 0x3E, "arm64": 0xB7}
        for arch in sorted(set(LAYER_ARCH_LIST) | {ARCH}):
            machine = machines[arch]
            artifacts = [("syncer.zip", "bootstrap"), ("example-reader.zip", "bootstrap")] if arch == ARCH else []
            if arch in LAYER_ARCH_LIST:
                artifacts.append(("launchdarkly-ofrep-layer.zip", "extensions/launchdarkly-ofrep"))
            for artifact, member in artifacts:
                with zipfile.ZipFile(os.path.join(dist, arch, artifact)) as z:
                    info = z.getinfo(member)
                    header = z.open(member).read(20)
                self.assertTrue((info.external_attr >> 16) & 0o111, f"{arch}/{artifact}: executable")
                self.assertEqual(header[:4], b"\x7fELF", f"{arch}/{artifact}")
                self.assertEqual(int.from_bytes(header[18:20], "little"), machine, f"{arch}/{artifact}")

    def test_the_node_function_uses_the_layer_of_its_architecture(self):
        self.examples_only()
        node = self.function("node")
        self.assertTrue(node["Runtime"].startswith("nodejs"), node["Runtime"])
        self.assertEqual(node["Handler"], "examples/node-ofrep/handler.handler")
        self.assertEqual(node["Layers"], [{"Ref": LAYER_OF[ARCH]}])
        self.assertEqual(node["Architectures"], [ARCH])
        variables = node["Environment"]["Variables"]
        self.assertEqual(variables["LAUNCHDARKLY_DYNAMODB_TABLE"], TABLE)
        self.assertEqual(variables["LAUNCHDARKLY_OFREP_PORT"], "8016")

    def test_the_packages_hold_what_runs(self):
        self.examples_only()
        import zipfile
        with zipfile.ZipFile(os.path.join(PACKAGE_DIR, "node.zip")) as node:
            names = node.namelist()
        for needed in ["examples/node-ofrep/handler.mjs", "examples/node-ofrep/flags.mjs",
                       "examples/node-ofrep/node_modules/@openfeature/ofrep-provider/package.json"]:
            self.assertIn(needed, names)
        self.assertFalse([n for n in names if n.startswith(("target/", "store/", "dist/"))], "nothing else")

    def test_functions_use_their_own_roles(self):
        self.assertEqual(self.function("store")["Role"], {"Fn::GetAtt": ["SyncerRole", "Arn"]})
        self.examples_only()
        self.assertEqual(self.function("reader")["Role"], {"Fn::GetAtt": ["ReaderRole", "Arn"]})
        self.assertEqual(self.function("node")["Role"], {"Fn::GetAtt": ["NodeExampleRole", "Arn"]})

    def test_secrets_are_parameter_names_only(self):
        variables = self.function("store")["Environment"]["Variables"]
        self.assertEqual(variables["LAUNCHDARKLY_SDK_KEY_PARAM"], f"{SSM_PATH}/sdkkey")
        self.assertEqual(variables["LAUNCHDARKLY_WEBHOOK_SECRET_PARAM"], f"{SSM_PATH}/webhooksecret")
        self.assertEqual(variables["LAUNCHDARKLY_DYNAMODB_TABLE"], TABLE)
        for f in self.functions.values():
            names = f["Properties"]["Environment"]["Variables"].keys()
            self.assertNotIn("LAUNCHDARKLY_SDK_KEY", names)
            self.assertNotIn("LAUNCHDARKLY_WEBHOOK_SECRET", names)
        self.assertNotIn("${ssm:", self.text)
        self.assertIsNone(re.search(r"(sdk|api|mob)-[0-9a-f]{8}-", self.text), "no SDK key value")

    def test_the_webhook_fails_closed_and_mass_deletions_are_guarded(self):
        variables = self.function("store")["Environment"]["Variables"]
        self.assertEqual(variables["LAUNCHDARKLY_ALLOW_UNSIGNED_WEBHOOKS"], "false")
        self.assertEqual(variables["LAUNCHDARKLY_MAX_DELETE_PERCENT"], "50")
        self.assertNotIn("LAUNCHDARKLY_ALLOW_MASS_DELETE", variables)

    def test_replacing_the_table_keeps_its_data(self):
        table = self.t["Resources"]["FlagsTable"]
        self.assertEqual(table["UpdateReplacePolicy"], "Retain")
        self.assertEqual(table["DeletionPolicy"], "Delete", "make destroy says it deletes the table")

    def test_alarms_watch_sync_failures_and_staleness(self):
        resources = self.t["Resources"]
        failures = resources["SyncFailuresAlarm"]["Properties"]
        stale = resources["SyncStaleAlarm"]["Properties"]
        readers = resources["ReadersStaleAlarm"]["Properties"]
        for alarm, metric in ((failures, "SyncFailures"), (stale, "SyncSucceeded"), (readers, "StaleAnswers")):
            self.assertEqual(alarm["Namespace"], "LaunchDarklyDynamoStore")
            self.assertEqual(alarm["MetricName"], metric)
            self.assertEqual(alarm["Dimensions"], [{"Name": "Table", "Value": TABLE}])
            self.assertEqual(len(alarm["AlarmActions"]), 2, "a topic ARN and/or the e-mail topic")
        self.assertEqual(stale["TreatMissingData"], "breaching", "no sync at all is stale")
        self.assertEqual(int(stale["Period"]) * stale["EvaluationPeriods"], 2 * 3600)
        self.assertEqual(resources["AlarmEmailTopic"]["Condition"], "HasAlarmEmail")
        # make status reads the alarms by these names.
        self.assertEqual(failures["AlarmName"], f"launchdarkly-dynamo-store-{STAGE}-sync-failures")
        self.assertEqual(stale["AlarmName"], f"launchdarkly-dynamo-store-{STAGE}-sync-stale")
        self.assertIn("HasAlarmTopic", self.t["Conditions"])

    def test_the_dashboard_shows_every_metric_the_pipeline_emits(self):
        dashboard = resources_of_type(self.t, "AWS::CloudWatch::Dashboard")
        self.assertEqual(len(dashboard), 1)
        props = next(iter(dashboard.values()))["Properties"]
        self.assertEqual(props["DashboardName"], f"launchdarkly-dynamo-store-{STAGE}")
        text, variables = props["DashboardBody"]["Fn::Sub"]
        self.assertEqual(set(re.findall(r"\$\{([A-Za-z:]+)\}", text)) - {"AWS::Region"}, set(variables))
        body = json.loads(re.sub(r"\$\{[A-Za-z:]+\}", "x", text))
        shown = set()
        for widget in body["widgets"]:
            for metric in widget["properties"].get("metrics", []):
                shown.update(m for m in metric if isinstance(m, str) and m[0].isupper())
        emitted = {  # syncer/src/metrics.rs and reader/src/metrics.rs
            "SyncSucceeded", "SyncFailures", "SyncDuration", "ItemsWritten", "ItemsRepaired",
            "ItemsDeleted", "ItemsSkipped", "Evaluations", "StaleAnswers", "UnavailableAnswers",
            "StoreErrors", "DataAge",
        }
        self.assertLessEqual(emitted, shown, "every metric has a widget")
        alarms = [w for w in body["widgets"] if w["type"] == "alarm"]
        self.assertEqual(len(alarms), 1)
        self.assertEqual(
            {v["Fn::GetAtt"][0] for k, v in variables.items() if k.endswith("Alarm")},
            {"SyncFailuresAlarm", "SyncStaleAlarm", "ReadersStaleAlarm"},
        )
        self.assertIn("DashboardUrl", self.t["Outputs"])

    def test_lambda_managed_instances_only_with_a_capacity_provider(self):
        parameters = self.t["Parameters"]
        self.assertEqual(parameters["CapacityProviderArn"]["Default"], CAPACITY_PROVIDER)
        self.assertEqual(parameters["CapacityProviderSubnetIds"]["Default"], CAPACITY_PROVIDER_SUBNETS)
        self.assertEqual(
            parameters["CapacityProviderSecurityGroupIds"]["Default"], CAPACITY_PROVIDER_SECURITY_GROUPS
        )
        self.assertEqual(str(parameters["MaxConcurrency"]["Default"]), MAX_CONCURRENCY)
        conditions = self.t["Conditions"]
        self.assertEqual(
            conditions["OnManagedInstances"],
            {"Fn::Or": [{"Condition": "HasCapacityProviderArn"}, {"Condition": "CreatesCapacityProvider"}]},
        )
        self.assertEqual(
            conditions["HasCapacityProviderArn"], {"Fn::Not": [{"Fn::Equals": [{"Ref": "CapacityProviderArn"}, ""]}]}
        )
        self.assertEqual(
            conditions["CreatesCapacityProvider"],
            {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "CapacityProviderSubnetIds"}]}, ""]}]},
        )
        arn = {"Fn::If": ["CreatesCapacityProvider", {"Fn::GetAtt": ["CapacityProvider", "Arn"]},
                          {"Ref": "CapacityProviderArn"}]}
        for name in ["store", "reader", "node"] if EXAMPLES else ["store"]:
            properties = self.function(name)
            config = properties["CapacityProviderConfig"]["Fn::If"]
            self.assertEqual(config[0], "OnManagedInstances", name)
            self.assertEqual(
                config[1]["LambdaManagedInstancesCapacityProviderConfig"],
                {"CapacityProviderArn": arn, "PerExecutionEnvironmentMaxConcurrency": {"Ref": "MaxConcurrency"}},
            )
            self.assertEqual(config[2], {"Ref": "AWS::NoValue"})
            # 2 GB is the least an environment of Lambda Managed Instances has.
            self.assertEqual(properties["MemorySize"], {"Fn::If": ["OnManagedInstances", 2048, 256]})
        # Lambda Managed Instances run a published version: each deploy publishes one.
        versions = resources_of_type(self.t, "AWS::Lambda::Version")
        self.assertEqual(len(versions), 3 if EXAMPLES else 1)
        # Node.js 22 or later is what Lambda Managed Instances run.
        if EXAMPLES:
            self.assertGreaterEqual(int(re.match(r"nodejs(\d+)", self.function("node")["Runtime"]).group(1)), 22)
        self.assertEqual(self.t["Outputs"]["CapacityProviderArn"]["Condition"], "OnManagedInstances")
        # Both ways at once, or subnets without security groups, are refused before anything is
        # created.
        rules = self.t["Rules"]
        self.assertEqual(
            rules["ExistingOrCreatedCapacityProvider"]["Assertions"][0]["Assert"],
            {"Fn::EachMemberEquals": [{"Ref": "CapacityProviderSubnetIds"}, ""]},
        )
        self.assertIn("CapacityProviderSecurityGroupIds", json.dumps(rules["CreatedCapacityProviderHasSecurityGroups"]))

    def test_a_capacity_provider_the_stack_creates(self):
        provider = self.t["Resources"]["CapacityProvider"]
        role = self.t["Resources"]["CapacityProviderOperatorRole"]
        self.assertEqual(provider["Type"], "AWS::Lambda::CapacityProvider")
        self.assertEqual(provider["Condition"], "CreatesCapacityProvider")
        self.assertEqual(role["Condition"], "CreatesCapacityProvider")
        properties = provider["Properties"]
        self.assertEqual(properties["VpcConfig"], {
            "SubnetIds": {"Ref": "CapacityProviderSubnetIds"},
            "SecurityGroupIds": {"Ref": "CapacityProviderSecurityGroupIds"},
        })
        self.assertEqual(properties["PermissionsConfig"],
                         {"CapacityProviderOperatorRoleArn": {"Fn::GetAtt": ["CapacityProviderOperatorRole", "Arn"]}})
        # Instances of the functions' architecture, or none of them could run there.
        self.assertEqual(properties["InstanceRequirements"], {"Architectures": [ARCH]})
        self.assertEqual(properties["CapacityProviderScalingConfig"]["Fn::If"][0], "HasCapacityProviderMaxVcpus")
        self.assertEqual(self.t["Parameters"]["CapacityProviderMaxVcpus"]["Default"], CAPACITY_PROVIDER_MAX_VCPUS)
        # Lambda launches and manages the instances through this role and AWS's managed policy.
        trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        self.assertEqual([s["Principal"] for s in trust], [{"Service": "lambda.amazonaws.com"}])
        self.assertEqual(
            role["Properties"]["ManagedPolicyArns"],
            [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator"}],
        )

    def test_outputs_give_the_urls(self):
        self.assertIn("WebhookUrl", self.t["Outputs"])
        self.assertEqual("ReaderUrl" in self.t["Outputs"], EXAMPLES)
        self.assertIn("DashboardUrl", self.t["Outputs"])
        self.assertIn(OUTPUT_OF[ARCH], self.t["Outputs"])


if __name__ == "__main__":
    result = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=1).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)

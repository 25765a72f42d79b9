//! SSM Parameter Store, served by moto's server in tests (started by scripts/with-local-aws.sh),
//! through the pipeline's own SSM client.

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use launchdarkly_dynamo_common::ssm::SsmClient;

/// A client for the test run's SSM endpoint.
pub fn client() -> SsmClient {
    let endpoint = std::env::var("LD_SSM_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!("LD_SSM_TEST_ENDPOINT is not set: run the tests with `make test` or scripts/with-local-aws.sh")
    });
    client_for(&endpoint)
}

/// A client for the SSM server at `endpoint` with dummy credentials.
pub fn client_for(endpoint: &str) -> SsmClient {
    let credentials = Credentials::new("local", "local", None, None, "testkit");
    SsmClient::with_endpoint(
        endpoint,
        "us-east-1",
        Some(SharedCredentialsProvider::new(credentials)),
    )
}

/// Writes (or overwrites) a SecureString parameter.
pub async fn put_secure(client: &SsmClient, name: &str, value: &str) {
    let request = serde_json::json!({
        "Name": name, "Value": value, "Type": "SecureString", "Overwrite": true,
    });
    client
        .call("PutParameter", &request)
        .await
        .unwrap_or_else(|e| panic!("putting SSM parameter {name}: {e}"));
}

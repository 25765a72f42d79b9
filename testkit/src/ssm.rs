//! SSM Parameter Store, served by moto's server in tests (started by scripts/with-local-aws.sh).

use aws_credential_types::Credentials;
use aws_sdk_ssm::config::{BehaviorVersion, Region};
use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;

/// A client for the test run's SSM endpoint.
pub fn client() -> Client {
    let endpoint = std::env::var("LD_SSM_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!("LD_SSM_TEST_ENDPOINT is not set: run the tests with `make test` or scripts/with-local-aws.sh")
    });
    client_for(&endpoint)
}

/// A client for the SSM server at `endpoint` with dummy credentials.
pub fn client_for(endpoint: &str) -> Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("local", "local", None, None, "testkit"))
        .build();
    Client::from_conf(config)
}

/// Writes (or overwrites) a SecureString parameter.
pub async fn put_secure(client: &Client, name: &str, value: &str) {
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("putting SSM parameter {name}: {e:?}"));
}

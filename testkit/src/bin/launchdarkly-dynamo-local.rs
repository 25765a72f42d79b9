//! The local setup's small jobs, done once for the scripts that need them (`make demo`,
//! `scripts/local.sh`, the OFREP conformance run), with the testkit's own code:
//!
//!   launchdarkly-dynamo-local create-table <name>   a table in LaunchDarkly's layout (idempotent),
//!                                                   at AWS_ENDPOINT_URL_DYNAMODB
//!   launchdarkly-dynamo-local free-port             a free loopback TCP port

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["free-port"] => {
            println!("{}", launchdarkly_dynamo_testkit::lambda::free_port());
            ExitCode::SUCCESS
        }
        ["create-table", name] => create_table(name),
        _ => {
            eprintln!("usage: launchdarkly-dynamo-local create-table <name> | free-port");
            ExitCode::from(2)
        }
    }
}

fn create_table(name: &str) -> ExitCode {
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") else {
        eprintln!("launchdarkly-dynamo-local: AWS_ENDPOINT_URL_DYNAMODB is not set: point it at DynamoDB Local");
        return ExitCode::from(2);
    };
    let client = launchdarkly_dynamo_testkit::dynamodb::client_for(&endpoint);
    let created = launchdarkly_dynamo_testkit::rt().block_on(
        launchdarkly_dynamo_testkit::dynamodb::ensure_table(&client, name),
    );
    match created {
        Ok(()) => {
            println!("table {name}: partition key namespace (S), sort key key (S), on-demand");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!(
                "launchdarkly-dynamo-local: creating the table {name} at {endpoint} failed: {err}"
            );
            ExitCode::FAILURE
        }
    }
}

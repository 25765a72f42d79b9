use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use launchdarkly_dynamo_store::DynamoDbStoreBuilder;
use launchdarkly_server_sdk::{Client, ConfigBuilder, ContextBuilder, PersistentDataStoreBuilder};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rust-reader: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let table = std::env::var("LAUNCHDARKLY_DYNAMODB_TABLE")?; // the syncer's table
    let mut args = std::env::args().skip(1);
    let flag = args
        .next()
        .unwrap_or_else(|| "payments-enabled".to_string());
    let user = args.next().unwrap_or_else(|| "alice".to_string());

    // Once per process (in Lambda: outside the handler). `.prefix("...")` if the syncer uses one.
    let mirror = DynamoDbStoreBuilder::new(&table).build_mirror().await?;
    // Fail the start clearly (wrong table name, no access, never synced) rather than answer
    // every evaluation with its default.
    mirror.wait_for_first_load(Duration::from_secs(5)).await?;
    let mut data_store = PersistentDataStoreBuilder::new(Arc::new(mirror.clone()));
    data_store.no_caching(); // the mirror is the cache
    let sdk_key = std::env::var("LAUNCHDARKLY_SDK_KEY").unwrap_or_default(); // events only
    let config = ConfigBuilder::new(&sdk_key)
        .daemon_mode(true)
        .data_store(&data_store)
        .build()?;
    let client = Client::build(config)?;
    client.start_with_default_executor();

    let context = ContextBuilder::new(&user).build()?;
    let detail = client.bool_variation_detail(&context, &flag, false);
    println!(
        "{flag} for {user}: {:?} ({:?})",
        detail.value, detail.reason
    );
    println!("store: {:?}", mirror.status().state); // also generation, data age, last error
    client.close();
    Ok(())
}

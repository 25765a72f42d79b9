//! A local LaunchDarkly stand-in for the demo: serves a JSON file as `GET /sdk/latest-all`
//! (re-read when it changes, with ETags) to requests carrying the given SDK key.
//!
//!   launchdarkly-standin <data.json> <sdk-key> <port-file>
//!
//! Writes its base URI to <port-file> once listening, and runs until killed.

use std::time::{Duration, SystemTime};

use launchdarkly_dynamo_testkit::launchdarkly::LaunchDarkly;

fn read(path: &str) -> Result<(serde_json::Value, Option<SystemTime>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    let data = serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}"))?;
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok((data, modified))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, data_path, sdk_key, port_file] = args.as_slice() else {
        eprintln!("usage: launchdarkly-standin <data.json> <sdk-key> <port-file>");
        std::process::exit(2);
    };
    let (data, mut modified) = read(data_path).unwrap_or_else(|e| {
        eprintln!("launchdarkly-standin: {e}");
        std::process::exit(1);
    });
    let standin = LaunchDarkly::start(sdk_key, data);
    if let Err(e) = std::fs::write(port_file, standin.base_uri()) {
        eprintln!("launchdarkly-standin: writing {port_file}: {e}");
        std::process::exit(1);
    }
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = std::fs::metadata(data_path).and_then(|m| m.modified()).ok();
        if now != modified {
            match read(data_path) {
                Ok((data, at)) => {
                    standin.set_data(data);
                    modified = at;
                }
                Err(e) => eprintln!("launchdarkly-standin: keeping the previous data: {e}"),
            }
        }
    }
}

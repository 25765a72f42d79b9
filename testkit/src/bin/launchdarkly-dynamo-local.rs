//! The local setup's jobs, done once for every script and test run that needs them (`make test`,
//! `make demo`, `scripts/local.sh`, the contract and OFREP runs, the bench), with the testkit's
//! own code. `launchdarkly-dynamo-local --help` lists them.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use launchdarkly_dynamo_testkit::local::{self, Installed, Lifetime, Server};
use launchdarkly_dynamo_testkit::{dynamodb, lambda::free_port};
use serde_json::Value;

/// The local setup of launchdarkly-dynamo-store: DynamoDB Local, moto's SSM server and the
/// LaunchDarkly stand-in, started and stopped; tables; ports.
#[derive(Parser)]
#[command(name = "launchdarkly-dynamo-local")]
struct Cli {
    /// The checkout whose pinned stand-ins to run (`make local-tools` installs them).
    #[arg(long, env = "LOCAL_ROOT", default_value = ".", global = true)]
    root: PathBuf,
    #[command(subcommand)]
    command: Job,
}

#[derive(Subcommand)]
enum Job {
    /// Run one command with DynamoDB Local and moto's SSM server on free loopback ports and the
    /// AWS variables pointing at them; both stop when it ends. Exits with the command's status.
    Run {
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Start DynamoDB Local on PORT and the LaunchDarkly stand-in serving FLAGS, both running on
    /// after this command returns, and create TABLE. Writes their pids, ports, URL and logs to
    /// the state folder (what `scripts/local.sh` reads).
    Start {
        #[arg(long)]
        state: PathBuf,
        #[arg(long, default_value_t = 8000)]
        dynamodb_port: u16,
        #[arg(long)]
        flags: PathBuf,
        #[arg(long)]
        sdk_key: String,
        #[arg(long)]
        table: String,
        /// The stand-in binary (default: `launchdarkly-standin` beside this one).
        #[arg(long)]
        standin: Option<PathBuf>,
    },
    /// Stop what runs from the state folder, by the pid files NAME.pid, in the order given.
    Stop {
        #[arg(long)]
        state: PathBuf,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Create a table in LaunchDarkly's layout (idempotent) at AWS_ENDPOINT_URL_DYNAMODB.
    CreateTable { name: String },
    /// Print a free loopback TCP port.
    FreePort,
    /// Wait (2 s at most) until the stand-in at URL serves what FLAGS holds, so a sync right
    /// after an edit of the file brings that edit.
    AwaitServed {
        flags: PathBuf,
        url: String,
        sdk_key: String,
    },
    /// Print the data generation an OFREP extension answers from (its /health), or nothing.
    Generation { health: String },
    /// After `syncer sync` printed SUMMARY: when it changed the table, wait (10 s at most) until
    /// the extension at HEALTH answers from a generation other than BEFORE.
    AwaitExtension {
        health: String,
        before: String,
        summary: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Job::Run { command } => return run(&cli.root, &command),
        Job::Start {
            state,
            dynamodb_port,
            flags,
            sdk_key,
            table,
            standin,
        } => {
            let standin = StandIn {
                binary: standin,
                flags,
                sdk_key,
            };
            start(&cli.root, &state, dynamodb_port, &standin, &table)
        }
        Job::Stop { state, names } => {
            stop(&state, &names);
            Ok(())
        }
        Job::CreateTable { name } => create_table(&name),
        Job::FreePort => {
            println!("{}", free_port());
            Ok(())
        }
        Job::AwaitServed {
            flags,
            url,
            sdk_key,
        } => await_served(&flags, &url, &sdk_key),
        Job::Generation { health } => {
            println!("{}", generation(&health).unwrap_or_default());
            Ok(())
        }
        Job::AwaitExtension {
            health,
            before,
            summary,
        } => await_extension(&health, &before, &summary),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("launchdarkly-dynamo-local: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `run`: the stand-ins for one command, stopped when it ends (or when this process is killed).
fn run(root: &Path, command: &[String]) -> ExitCode {
    let workdir = std::env::temp_dir().join(format!("local-aws.{}", std::process::id()));
    let started = std::fs::create_dir_all(&workdir)
        .map_err(|e| format!("creating {}: {e}", workdir.display()))
        .and_then(|()| Installed::find(root))
        .and_then(|installed| {
            launchdarkly_dynamo_testkit::block_on(start_for_one_run(&installed, &workdir))
        });
    let code = match started {
        Ok((dynamodb, ssm)) => {
            eprintln!(
                "launchdarkly-dynamo-local: DynamoDB Local at {}, SSM (moto) at {}",
                dynamodb.endpoint(),
                ssm.endpoint()
            );
            let code = run_command(command, dynamodb.endpoint(), ssm.endpoint());
            dynamodb.stop();
            ssm.stop();
            code
        }
        Err(err) => {
            eprintln!("launchdarkly-dynamo-local: {err}");
            ExitCode::FAILURE
        }
    };
    let _ = std::fs::remove_dir_all(&workdir);
    code
}

async fn start_for_one_run(
    installed: &Installed,
    workdir: &Path,
) -> Result<(Server, Server), String> {
    let (dynamodb, ssm) = tokio::join!(
        local::start_dynamodb(installed, free_port(), workdir, Lifetime::ThisProcess),
        local::start_ssm(installed, free_port(), workdir, Lifetime::ThisProcess),
    );
    match (dynamodb, ssm) {
        (Ok(dynamodb), Ok(ssm)) => Ok((dynamodb, ssm)),
        (Err(err), Ok(started)) | (Ok(started), Err(err)) => {
            started.stop();
            Err(err)
        }
        (Err(err), Err(_)) => Err(err),
    }
}

fn run_command(command: &[String], dynamodb: &str, ssm: &str) -> ExitCode {
    let [program, args @ ..] = command else {
        return ExitCode::from(2);
    };
    let mut child = Command::new(program);
    child
        .args(args)
        .envs(local::aws_environment(dynamodb, Some(ssm)));
    local::end_with_this_process(&mut child);
    match child.status() {
        Ok(status) => ExitCode::from(status.code().map_or(1, |c| c.clamp(0, 255) as u8)),
        Err(err) => {
            eprintln!("launchdarkly-dynamo-local: running {program}: {err}");
            ExitCode::from(127)
        }
    }
}

/// `start`: DynamoDB Local and the stand-in for `scripts/local.sh`, running on until `stop`.
/// The LaunchDarkly stand-in `start` runs.
struct StandIn {
    binary: Option<PathBuf>,
    flags: PathBuf,
    sdk_key: String,
}

fn start(
    root: &Path,
    state: &Path,
    port: u16,
    standin: &StandIn,
    table: &str,
) -> Result<(), String> {
    let installed = Installed::find(root)?;
    std::fs::create_dir_all(state).map_err(|e| format!("creating {}: {e}", state.display()))?;
    let dynamodb = launchdarkly_dynamo_testkit::block_on(local::start_dynamodb(
        &installed,
        port,
        state,
        Lifetime::Detached,
    ))?;
    write_state(state, "dynamodb.pid", &dynamodb.pid().to_string())?;
    write_state(state, "dynamodb.port", &port.to_string())?;
    let url_file = state.join("launchdarkly.url");
    let _ = std::fs::remove_file(&url_file);
    let pid = start_standin(state, standin, &url_file)?;
    write_state(state, "launchdarkly.pid", &pid.to_string())?;
    let client = dynamodb::client_for(dynamodb.endpoint());
    launchdarkly_dynamo_testkit::block_on(dynamodb::ensure_table(&client, table))
        .map_err(|e| format!("creating the table {table}: {e}"))?;
    Ok(())
}

/// Starts the LaunchDarkly stand-in and waits (30 s at most) for its URL.
fn start_standin(state: &Path, standin: &StandIn, url_file: &Path) -> Result<u32, String> {
    let binary = match &standin.binary {
        Some(binary) => binary.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("finding this binary: {e}"))?
            .with_file_name("launchdarkly-standin"),
    };
    let log = std::fs::File::create(state.join("launchdarkly.log"))
        .map_err(|e| format!("creating the stand-in's log: {e}"))?;
    let mut child = Command::new(&binary)
        .arg(&standin.flags)
        .arg(&standin.sdk_key)
        .arg(url_file)
        .stdin(std::process::Stdio::null())
        .stderr(log.try_clone().map_err(|e| e.to_string())?)
        .stdout(log)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let until = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(url_file).map_or(true, |m| m.len() == 0) {
        if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() > until {
            let _ = child.kill();
            return Err(format!(
                "the LaunchDarkly stand-in did not start; the end of its log:\n{}",
                local::log_tail(&state.join("launchdarkly.log"))
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child.id())
}

fn write_state(state: &Path, name: &str, value: &str) -> Result<(), String> {
    let path = state.join(name);
    std::fs::write(&path, value).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `stop`: each process named by a pid file in `state`, ended and waited for (10 s each).
fn stop(state: &Path, names: &[String]) {
    let mut stopped = Vec::new();
    for name in names {
        let pid_file = state.join(format!("{name}.pid"));
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<libc::pid_t>().ok())
            .filter(|pid| *pid > 0);
        let _ = std::fs::remove_file(&pid_file);
        let Some(pid) = pid.filter(|pid| alive(*pid)) else {
            continue;
        };
        eprintln!("local: stopping {name} (pid {pid})");
        // SAFETY: kill(2) on a pid this setup started; no memory is shared.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
        }
        stopped.push(name.as_str());
    }
    if stopped.is_empty() {
        eprintln!("local: nothing was running");
    } else {
        eprintln!("local: stopped: {}", stopped.join(" "));
    }
}

fn alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only asks whether the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn create_table(name: &str) -> Result<(), String> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").map_err(|_| {
        "AWS_ENDPOINT_URL_DYNAMODB is not set: point it at DynamoDB Local".to_owned()
    })?;
    let client = dynamodb::client_for(&endpoint);
    launchdarkly_dynamo_testkit::block_on(dynamodb::ensure_table(&client, name))
        .map_err(|e| format!("creating the table {name} at {endpoint} failed: {e}"))?;
    println!("table {name}: partition key namespace (S), sort key key (S), on-demand");
    Ok(())
}

fn await_served(flags: &Path, url: &str, sdk_key: &str) -> Result<(), String> {
    let client = reqwest::Client::new();
    let request = || {
        client
            .get(format!("{url}/sdk/latest-all"))
            .header("Authorization", sdk_key)
            .timeout(Duration::from_secs(2))
            .send()
    };
    for _ in 0..20 {
        let in_file = std::fs::read_to_string(flags)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok());
        let served = launchdarkly_dynamo_testkit::block_on(async {
            let body = request().await.ok()?.bytes().await.ok()?;
            serde_json::from_slice::<Value>(&body).ok()
        });
        if in_file.is_some() && in_file == served {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "the LaunchDarkly stand-in does not serve {}: is it valid JSON? (see launchdarkly.log in the state folder)",
        flags.display()
    ))
}

fn generation(health: &str) -> Option<String> {
    let body: Value = launchdarkly_dynamo_testkit::block_on(async {
        let answer = reqwest::Client::new()
            .get(health)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let body = answer.bytes().await.ok()?;
        serde_json::from_slice::<Value>(&body).ok()
    })?;
    match body.get("generation")? {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

fn await_extension(health: &str, before: &str, summary: &str) -> Result<(), String> {
    let summary: Value = serde_json::from_str(summary)
        .map_err(|e| format!("the sync's summary is not JSON ({e}): {summary}"))?;
    let count = |field: &str| summary.get(field).and_then(Value::as_u64).unwrap_or(0);
    if count("written") + count("repaired") + count("deleted") == 0 {
        return Ok(());
    }
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if generation(health).is_some_and(|now| now != before) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "the extension did not pick up the sync within 10 s (its health: {health})"
    ))
}

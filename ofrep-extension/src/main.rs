use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use clap::Parser;
use lambda_extension::{
    service_fn, Extension, LambdaTelemetry, LogBuffering, RegisteredExtension, SharedService,
};
use launchdarkly_dynamo_common::server::ServerLimits;
use launchdarkly_dynamo_reader::startup::start_reader;
use launchdarkly_dynamo_reader::{Reader, ReaderConfig as Config};
use ofrep_extension::config::EXTENSION_NAME;
use ofrep_extension::lifecycle::Processor;
use ofrep_extension::{Cli, Lifecycle, RuntimeDone};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let in_lambda = launchdarkly_dynamo_common::in_lambda();
    launchdarkly_dynamo_common::init_tracing(in_lambda);
    let cli = Cli::parse();
    let config = cli.settings.validate().map_err(|err| NotReady {
        error_type: "Extension.InvalidConfiguration",
        message: format!("invalid configuration: {err}"),
    });
    if in_lambda {
        run_in_lambda(config, &cli).await
    } else {
        run_standalone(config, cli.port).await
    }
}

/// Outside Lambda: serve OFREP until stopped (local work, benchmarks).
async fn run_standalone(config: Result<Config, NotReady>, port: u16) -> ExitCode {
    let ready = match config {
        Ok(config) => ready(&config, port).await,
        Err(failure) => Err(failure),
    };
    match ready {
        Ok((reader, listeners)) => {
            tokio::spawn(check_every_interval(reader.clone()));
            serve_all(reader, listeners).await;
            ExitCode::FAILURE
        }
        Err(failure) => {
            tracing::error!("{}", failure.message);
            ExitCode::from(2)
        }
    }
}

/// Outside Lambda no `INVOKE` event starts checks, and nothing freezes the process: check the
/// table every freshness interval, so a synced change is answered within about that long.
async fn check_every_interval(reader: Arc<Reader>) {
    let mut ticks = tokio::time::interval(reader.mirror().settings().freshness);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        reader.check();
    }
}

/// In Lambda: register, get ready (reader and listener) before asking for the first event, so
/// the function's first invocation finds OFREP answering; then follow the lifecycle.
async fn run_in_lambda(config: Result<Config, NotReady>, cli: &Cli) -> ExitCode {
    let runtime_done = RuntimeDone::default();
    // Lambda Managed Instances send no INVOKE events (registering for them fails the Init) and
    // never freeze: the copy is kept fresh and events delivered on a timer instead.
    let managed = launchdarkly_dynamo_common::on_managed_instances();
    // With invalid settings the extension still registers, to report them as an init error.
    let (interval, events) = match &config {
        Ok(config) => (config.events_interval, config.sdk_key.is_some()),
        Err(_) => (Duration::from_secs(5), false),
    };
    let lifecycle = Lifecycle::new(interval, runtime_done.clone());
    let telemetry = if events && !managed && telemetry_port_free(cli.telemetry_port) {
        Some((runtime_done, cli.telemetry_port))
    } else {
        runtime_done.unavailable();
        None
    };
    let extension = match register(lifecycle.clone(), telemetry, managed).await {
        Ok(extension) => extension,
        Err(err) => {
            tracing::error!("could not register with the Lambda Extensions API: {err}");
            return ExitCode::FAILURE;
        }
    };
    let ready = match config {
        Ok(config) => ready(&config, cli.port).await,
        Err(failure) => Err(failure),
    };
    let (reader, listeners) = match ready {
        Ok(ready) => ready,
        Err(failure) => {
            tracing::error!("{}", failure.message);
            launchdarkly_dynamo_common::report_extension_init_error(
                &extension.extension_id,
                failure.error_type,
                &failure.message,
            )
            .await;
            return ExitCode::FAILURE;
        }
    };
    lifecycle.set_reader(reader.clone());
    if managed {
        tokio::spawn(lifecycle.clone().on_a_timer());
    }
    tokio::spawn(serve_all(reader, listeners));
    tokio::select! {
        result = extension.run() => {
            tracing::error!("the extension stopped: {}", result.err().map(|e| e.to_string()).unwrap_or_default());
            ExitCode::FAILURE
        }
        () = lifecycle.stopped() => ExitCode::SUCCESS,
    }
}

/// The Telemetry API listener is bound inside `lambda_extension`, which cannot report a port
/// in use: check first, and do without telemetry (events then go out at the next invocation
/// and at shutdown) rather than wait for events that will never come.
fn telemetry_port_free(port: u16) -> bool {
    match std::net::TcpListener::bind(("0.0.0.0", port)) {
        Ok(_) => true,
        Err(err) => {
            tracing::warn!("cannot listen on port {port} (LAUNCHDARKLY_OFREP_TELEMETRY_PORT): {err}; analytics events will be delivered at the next invocation and at shutdown instead");
            false
        }
    }
}

struct NotReady {
    error_type: &'static str,
    message: String,
}

/// OFREP and the health route: all the extension serves.
fn routes(reader: Arc<Reader>) -> Router {
    launchdarkly_dynamo_ofrep::router(reader.clone())
        .merge(launchdarkly_dynamo_reader::routes::health_router(reader))
}

/// Serves OFREP on every listener; returns only if they all stop.
async fn serve_all(reader: Arc<Reader>, listeners: Vec<TcpListener>) {
    let app = routes(reader);
    let servers = listeners.into_iter().map(|listener| {
        let app = app.clone();
        tokio::spawn(async move {
            if let Err(err) = launchdarkly_dynamo_common::server::serve(
                listener,
                app,
                ServerLimits::for_this_environment(),
            )
            .await
            {
                tracing::error!("the OFREP server stopped: {err}");
            }
        })
    });
    for server in servers.collect::<Vec<_>>() {
        let _ = server.await;
    }
}

/// The reader and the bound OFREP listeners: 127.0.0.1, and ::1 where the sandbox has IPv6
/// (clients that resolve `localhost` to `::1` first then find it too).
async fn ready(config: &Config, port: u16) -> Result<(Arc<Reader>, Vec<TcpListener>), NotReady> {
    let reader = start_reader(config, true).await.map_err(|err| NotReady {
        error_type: "Extension.InitError",
        message: format!("could not start the reader: {err}"),
    })?;
    // The first load starts here and runs beside the runtime's and the function's init; an
    // evaluation before it lands reads its flag with point reads (see `Mirror::read_ahead`),
    // so init never waits on DynamoDB.
    reader.check();
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|err| NotReady {
            error_type: "Extension.InitError",
            message: format!(
                "cannot listen on 127.0.0.1:{} (LAUNCHDARKLY_OFREP_PORT): {err}",
                port
            ),
        })?;
    let mut listeners = vec![listener];
    if let Ok(ipv6) = TcpListener::bind(("::1", port)).await {
        listeners.push(ipv6);
    }
    tracing::info!(
        table = %config.table,
        events = reader.sends_events(),
        state = ?reader.health().state,
        "OFREP ready on http://127.0.0.1:{}/ofrep/v1/evaluate/flags",
        port
    );
    Ok((Arc::new(reader), listeners))
}

/// Registers for `INVOKE` and `SHUTDOWN` (`SHUTDOWN` only on Lambda Managed Instances), and
/// for the Telemetry API's platform events when analytics events are on (they tell when the
/// function has answered).
async fn register(
    lifecycle: Arc<Lifecycle>,
    telemetry: Option<(RuntimeDone, u16)>,
    managed: bool,
) -> Result<RegisteredExtension<Processor>, lambda_extension::Error> {
    let events: &[&str] = if managed {
        &["SHUTDOWN"]
    } else {
        &["INVOKE", "SHUTDOWN"]
    };
    let extension = Extension::new()
        .with_extension_name(EXTENSION_NAME)
        .with_events(events)
        .with_events_processor(Processor(lifecycle));
    let Some((runtime_done, port)) = telemetry else {
        return extension.register().await;
    };
    let on_batch = service_fn(move |batch: Vec<LambdaTelemetry>| {
        let runtime_done = runtime_done.clone();
        async move {
            runtime_done.record(batch);
            Ok::<(), Infallible>(())
        }
    });
    extension
        .with_telemetry_processor(SharedService::new(on_batch))
        .with_telemetry_types(&["platform"])
        .with_telemetry_buffering(LogBuffering {
            timeout_ms: 25,
            max_bytes: 262_144,
            max_items: 1_000,
        })
        .with_telemetry_port_number(port)
        .register()
        .await
}

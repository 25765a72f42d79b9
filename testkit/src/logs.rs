//! Captures what code logs through `tracing` on the current thread, to assert on log lines.

use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// Log output captured since [`capture`].
#[derive(Clone, Default)]
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl CapturedLogs {
    /// Makes every log call site ask the subscribers again whether they want it. `tracing`
    /// caches that per call site for the whole process; a call site first reached by another
    /// test's thread in the instant a capture started can stay cached as wanted by no one, and
    /// its lines would be missing here. Call it before the part whose lines are asserted.
    pub fn listen_again(&self) {
        tracing::callsite::rebuild_interest_cache();
    }

    /// Everything logged so far, one event per line.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().expect("log buffer")).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer
            .lock()
            .expect("log buffer")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Captures every event of this thread at INFO and above until the guard is dropped (use a
/// current-thread runtime so async code stays on this thread).
pub fn capture() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    logs.listen_again();
    (logs, guard)
}

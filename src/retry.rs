//! Retries with exponential backoff under one overall deadline.
//!
//! Policy is data ([`RetryConfig`]), classification is one function
//! ([`is_transient`]), and time is bounded twice: [`timeout_wrapper`] puts one
//! deadline around everything, and [`retry_with_backoff`] never starts a
//! sleep that would end past it. Backoff doubles from `base_delay_ms`, with
//! ±25% jitter (so successive delays still grow), capped at `max_delay_ms`
//! after the jitter is applied.
//!
//! Whether a failed `tools/call` may be sent again is the caller's decision,
//! given through [`retry_with_backoff_if`]: see `commands::call`.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use backon::Retryable;
use tokio::time::Instant;

use crate::config::Config;
use crate::env_vars;
use crate::error::McpError;

/// Relative jitter applied to every delay: ±25%.
pub const JITTER: f64 = 0.25;
/// The cap on one delay unless configured otherwise.
pub const DEFAULT_MAX_DELAY_MS: u64 = 30_000;

tokio::task_local! {
    /// When the enclosing [`timeout_wrapper`] started, and its deadline.
    static WINDOW: (Instant, Instant);
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds.
    pub base_delay_ms: u64,
    /// Cap on any one delay, in milliseconds.
    pub max_delay_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            base_delay_ms: 1000,
            max_delay_ms: DEFAULT_MAX_DELAY_MS,
        }
    }
}

impl RetryConfig {
    /// From the config's `retry_max` (retries after the first attempt, so
    /// `MCP_MAX_RETRIES=0` makes one attempt) and `retry_delay_ms`.
    /// The test variable `MCP_TEST_NO_RETRY_DELAY` makes every delay zero.
    pub fn from_config(config: &Config) -> Self {
        let no_delay = env_vars::get(env_vars::MCP_TEST_NO_RETRY_DELAY).is_some();
        RetryConfig {
            max_attempts: config.retry_max.saturating_add(1),
            base_delay_ms: if no_delay { 0 } else { config.retry_delay_ms },
            max_delay_ms: if no_delay { 0 } else { DEFAULT_MAX_DELAY_MS },
        }
    }

    /// The delay before retry number `retry` (1 for the first retry), given a
    /// uniform random `unit` in [0, 1).
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(40);
        let nominal = self.base_delay_ms as f64 * 2f64.powi(exponent as i32);
        let jittered = nominal * (1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0));
        let capped = jittered.min(self.max_delay_ms as f64);
        Duration::from_micros((capped * 1000.0) as u64)
    }

    fn schedule(self) -> Schedule {
        Schedule {
            config: self,
            retry: 0,
        }
    }
}

/// The delays of one retry loop, as backon consumes them.
#[derive(Debug)]
struct Schedule {
    config: RetryConfig,
    retry: u32,
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.retry + 1 >= self.config.max_attempts {
            return None;
        }
        self.retry += 1;
        Some(self.config.delay(self.retry, fastrand::f64()))
    }
}

/// Whether retrying could help: the failure is in passing (a server still
/// starting, a dropped connection, a timeout), not in what was asked.
/// Looks through the whole chain of causes.
pub fn is_transient(error: &McpError) -> bool {
    match error {
        McpError::Spawn { source, .. } => spawn_is_transient(source),
        McpError::ConnectionClosed { .. } | McpError::Timeout { .. } => true,
        McpError::HttpStatus { status, .. } => matches!(status, 429 | 502 | 503 | 504),
        McpError::Unreachable { transient, .. } => *transient,
        McpError::MaxRetriesExceeded { .. } | McpError::Several(..) => false,
        McpError::Usage { .. }
        | McpError::MissingArgument { .. }
        | McpError::TooManyArguments { .. }
        | McpError::UnknownOption { .. }
        | McpError::UnknownSubcommand { .. }
        | McpError::AmbiguousCommand { .. }
        | McpError::ConfigNotFound { .. }
        | McpError::ConfigRead { .. }
        | McpError::ConfigSyntax { .. }
        | McpError::ConfigInvalid { .. }
        | McpError::ConfigUntrusted { .. }
        | McpError::ConfigInsecure { .. }
        | McpError::StateWrite { .. }
        | McpError::AuthFailed { .. }
        | McpError::MissingEnvVar { .. }
        | McpError::InvalidSetting { .. }
        | McpError::ServerNotFound { .. }
        | McpError::ToolNotFound { .. }
        | McpError::ToolDisabled { .. }
        | McpError::InvalidJsonArguments { .. }
        | McpError::NoMatch { .. }
        | McpError::ToolError { .. }
        | McpError::ServerError { .. }
        | McpError::ToolExecutionFailed { .. }
        | McpError::Protocol { .. }
        | McpError::BadResult { .. }
        | McpError::MessageTooLarge { .. }
        | McpError::NotJsonRpc { .. }
        | McpError::OperationCancelled { .. }
        | McpError::Interrupted { .. }
        | McpError::Output(_) => false,
    }
}

/// A failure to start a process that may pass: the system short of
/// processes, memory or descriptors, or the program busy being written. Not
/// a program that is missing, forbidden or not runnable (ENOEXEC).
fn spawn_is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    if matches!(
        error.kind(),
        K::WouldBlock | K::OutOfMemory | K::ResourceBusy | K::ExecutableFileBusy | K::Interrupted
    ) {
        return true;
    }
    if matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
        return true;
    }
    false
}

/// Parses an HTTP `Retry-After` value: delta-seconds (`120`) or an
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as a wait from `now`.
/// A date in the past means no wait.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Some(Duration::from_secs(
            value.parse().unwrap_or(u64::MAX).min(MAX_RETRY_AFTER),
        ));
    }
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let (_, date) = value.split_once(", ")?;
    let parts: Vec<&str> = date.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    let month = 1 + [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|name| *name == month)? as i64;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let clock: Vec<i64> = time
        .split(':')
        .map(|part| part.parse().ok())
        .collect::<Option<_>>()?;
    let [hour, minute, second] = clock[..] else {
        return None;
    };
    if !(1..=31).contains(&day)
        || !(1970..=9999).contains(&year)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let at = days * 86_400 + hour * 3600 + minute * 60 + second;
    let now = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(Duration::from_secs(
        (at.saturating_sub(now).max(0) as u64).min(MAX_RETRY_AFTER),
    ))
}

/// The longest `Retry-After` taken as given, in seconds (a day); the
/// deadline usually ends the wait long before.
const MAX_RETRY_AFTER: u64 = 86_400;

/// Retries `operation` on transient errors (see [`is_transient`]).
pub async fn retry_with_backoff<T, F, Fut>(
    operation: F,
    config: &RetryConfig,
) -> Result<T, McpError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, McpError>>,
{
    retry_with_backoff_if(operation, config, "operation", is_transient).await
}

/// Retries `operation` while `retryable` says so, sleeping per `config`.
///
/// A permanent error returns at once, unchanged. When the attempts run out,
/// or the next sleep would end past the deadline of the enclosing
/// [`timeout_wrapper`], the error is `MaxRetriesExceeded` with the last
/// error as its source. `label` names the operation in debug logs.
pub async fn retry_with_backoff_if<T, F, Fut, R>(
    mut operation: F,
    config: &RetryConfig,
    label: &str,
    mut retryable: R,
) -> Result<T, McpError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, McpError>>,
    R: FnMut(&McpError) -> bool,
{
    // Elapsed time counts from the enclosing deadline's start, so work done
    // before the first attempt (reading stdin beside a connect) is included.
    let (started, deadline) = match WINDOW.try_with(|window| *window) {
        Ok((started, deadline)) => (started, Some(deadline)),
        Err(_) => (Instant::now(), None),
    };
    let attempts = Cell::new(0u32);
    let exhausted = Cell::new(false);
    let attempt = || {
        attempts.set(attempts.get() + 1);
        operation()
    };
    let result = attempt
        .retry(config.schedule())
        .sleep(tokio::time::sleep)
        .when(|error| {
            let retry = retryable(error);
            // Assume exhaustion; `adjust` clears it when a retry follows.
            exhausted.set(retry);
            retry
        })
        .adjust(|error, delay| {
            // The server's own `Retry-After` replaces the backoff.
            let delay = match error {
                McpError::HttpStatus {
                    retry_after: Some(wait),
                    ..
                } if config.max_delay_ms > 0 => delay.map(|_| *wait),
                _ => delay,
            }?;
            let ends = Instant::now().checked_add(delay);
            if deadline.is_some_and(|deadline| ends.is_none_or(|ends| ends >= deadline)) {
                return None;
            }
            exhausted.set(false);
            Some(delay)
        })
        .notify(|error, delay| {
            crate::debug!(
                "retrying {label} (attempt {} of {}) in {}: {error}",
                attempts.get() + 1,
                config.max_attempts,
                crate::error::format_duration(delay)
            );
        })
        .await;
    match result {
        Err(error) if exhausted.get() && attempts.get() > 1 => Err(McpError::max_retries_exceeded(
            attempts.get(),
            started.elapsed(),
            error,
        )),
        other => other,
    }
}

/// Runs `operation` under one deadline of `timeout`; on expiry the operation
/// is dropped (in-flight requests send `notifications/cancelled`) and the
/// error is `OperationCancelled`.
pub async fn timeout_wrapper<T, Fut>(operation: Fut, timeout: Duration) -> Result<T, McpError>
where
    Fut: Future<Output = Result<T, McpError>>,
{
    let started = Instant::now();
    let deadline = started + timeout;
    let inner = WINDOW.scope((started, deadline), operation);
    match tokio::time::timeout_at(deadline, inner).await {
        Ok(result) => result,
        Err(_) => Err(McpError::operation_cancelled(timeout)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn closed() -> McpError {
        McpError::ConnectionClosed {
            server: "s".into(),
            method: "initialize".into(),
            request_sent: false,
            exit_status: None,
            stderr: Vec::new(),
        }
    }

    #[test]
    fn defaults_and_from_config() {
        assert_eq!(
            RetryConfig::default(),
            RetryConfig {
                max_attempts: 3,
                base_delay_ms: 1000,
                max_delay_ms: 30_000
            }
        );
        let settings = crate::settings::Settings {
            retry_max: 0,
            retry_delay_ms: 250,
            ..Default::default()
        };
        let config = crate::config::Config {
            path: "x".into(),
            servers: Vec::new(),
            timeout: settings.timeout,
            request_timeout: None,
            list_timeout: settings.list_timeout,
            concurrency: 1,
            retry_max: settings.retry_max,
            retry_delay_ms: settings.retry_delay_ms,
            debug: false,
            warnings: Vec::new(),
            disabled: Vec::new(),
        };
        let retry = RetryConfig::from_config(&config);
        assert_eq!(retry.max_attempts, 1);
        assert_eq!(retry.base_delay_ms, 250);
        assert_eq!(retry.max_delay_ms, 30_000);
        let config = crate::config::Config {
            retry_max: 3,
            ..config
        };
        assert_eq!(RetryConfig::from_config(&config).max_attempts, 4);
    }

    /// Property: for any configuration and any random draws, delays grow
    /// strictly until the cap, never pass it, and stay within ±25%.
    #[test]
    fn delay_schedule_properties() {
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for _ in 0..2000 {
            let config = RetryConfig {
                max_attempts: rng.u32(1..20),
                base_delay_ms: rng.u64(1..5000),
                max_delay_ms: rng.u64(1..60_000),
            };
            let mut previous = Duration::ZERO;
            for retry in 1..config.max_attempts {
                let delay = config.delay(retry, rng.f64());
                let cap = Duration::from_millis(config.max_delay_ms);
                assert!(delay <= cap, "{config:?} retry {retry}: {delay:?} over cap");
                let nominal = config.base_delay_ms as f64 * 2f64.powi(retry as i32 - 1) / 1000.0;
                if delay < cap {
                    assert!(delay > previous, "{config:?} retry {retry}: not growing");
                    let seconds = delay.as_secs_f64();
                    assert!(seconds >= nominal * 0.75 - 1e-6 && seconds <= nominal * 1.25 + 1e-6);
                } else {
                    assert!(delay >= previous);
                }
                previous = delay;
            }
        }
        // The extremes of the jitter.
        let config = RetryConfig::default();
        assert_eq!(config.delay(1, 0.0), Duration::from_millis(750));
        assert_eq!(config.delay(2, 1.0), Duration::from_millis(2500));
        assert_eq!(config.delay(30, 0.5), Duration::from_secs(30));
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", std::time::UNIX_EPOCH),
            Some(Duration::from_secs(10))
        );
        // A leap day, an hour ahead of 2028-02-29 11:00:00 (1_835_434_800).
        let leap = std::time::UNIX_EPOCH + Duration::from_secs(1_835_434_800);
        assert_eq!(
            parse_retry_after("Tue, 29 Feb 2028 12:00:00 GMT", leap),
            Some(Duration::from_secs(3600))
        );
        for bad in [
            "",
            "soon",
            "-5",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    /// Any header value, and any time of day: no panic, and a wait no
    /// longer than a day; whole seconds as they are.
    #[test]
    fn any_retry_after_parses_or_is_ignored() {
        use proptest::prelude::*;
        let config = ProptestConfig {
            cases: 10_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        let value = prop_oneof![
            any::<String>(),
            "[0-9 ]{0,25}",
            "(Mon|Sun|x), [0-9-]{1,3} (Jan|Feb|Nov|Dec|x) [0-9-]{1,5} [0-9:-]{1,9} (GMT|UTC)",
        ];
        proptest!(config, |(value in value, now in any::<u32>())| {
            let now = std::time::UNIX_EPOCH + Duration::from_secs(u64::from(now) * 4);
            if let Some(wait) = parse_retry_after(&value, now) {
                prop_assert!(wait <= Duration::from_secs(MAX_RETRY_AFTER), "{value}: {wait:?}");
                if let Ok(seconds) = value.trim().parse::<u64>() {
                    prop_assert_eq!(wait.as_secs(), seconds.min(MAX_RETRY_AFTER));
                }
            }
        });
    }

    #[tokio::test]
    async fn retry_after_sets_the_delay_and_the_deadline_caps_it() {
        let calls = AtomicU32::new(0);
        let busy = |wait| McpError::HttpStatus {
            server: "s".into(),
            method: "tools/call".into(),
            status: 503,
            retry_after: Some(Duration::from_millis(wait)),
            challenge: None,
            body: None,
        };
        let config = RetryConfig {
            max_attempts: 3,
            base_delay_ms: 10_000,
            max_delay_ms: 30_000,
        };
        // 300 ms asked, instead of the 10 s backoff.
        let started = std::time::Instant::now();
        let result = retry_with_backoff(
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(busy(300))
                } else {
                    Ok(())
                }
            },
            &config,
        )
        .await;
        assert!(result.is_ok());
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
        // A wait past the deadline is not started: the error comes back at once.
        let started = std::time::Instant::now();
        let error = timeout_wrapper(
            retry_with_backoff(|| async { Err::<(), _>(busy(5_000)) }, &config),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, McpError::HttpStatus { status: 503, .. }),
            "{error:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn schedule_yields_one_delay_per_retry() {
        let config = RetryConfig {
            max_attempts: 4,
            base_delay_ms: 10,
            max_delay_ms: 1000,
        };
        assert_eq!(config.schedule().count(), 3);
        let once = RetryConfig {
            max_attempts: 1,
            ..config
        };
        assert_eq!(once.schedule().count(), 0);
    }

    #[test]
    fn transient_classification_of_every_variant() {
        let io = |kind| std::io::Error::new(kind, "x");
        let spawn = |kind| McpError::Spawn {
            server: "s".into(),
            command: "c".into(),
            source: io(kind),
            fix: None,
        };
        let transient = [
            closed(),
            McpError::Timeout {
                server: "s".into(),
                method: "tools/list".into(),
                duration: Duration::from_secs(1),
                stderr: Vec::new(),
            },
            spawn(std::io::ErrorKind::ResourceBusy),
            spawn(std::io::ErrorKind::WouldBlock),
            McpError::Spawn {
                server: "s".into(),
                command: "c".into(),
                source: std::io::Error::from_raw_os_error(libc::EMFILE),
                fix: None,
            },
        ];
        for error in &transient {
            assert!(is_transient(error), "{error:?}");
        }
        let http = |status| McpError::HttpStatus {
            server: "s".into(),
            method: "tools/call".into(),
            status,
            retry_after: None,
            challenge: None,
            body: None,
        };
        for status in [429, 502, 503, 504] {
            assert!(is_transient(&http(status)), "{status}");
        }
        for status in [400, 401, 403, 404, 500] {
            assert!(!is_transient(&http(status)), "{status}");
        }
        let permanent = [
            spawn(std::io::ErrorKind::NotFound),
            spawn(std::io::ErrorKind::PermissionDenied),
            McpError::Spawn {
                server: "s".into(),
                command: "c".into(),
                source: std::io::Error::from_raw_os_error(libc::ENOEXEC),
                fix: None,
            },
            McpError::usage("x"),
            McpError::UnknownSubcommand {
                verb: "x".into(),
                did_you_mean: None,
                rest: vec![],
                for_help: false,
            },
            McpError::AmbiguousCommand {
                words: vec!["s".into()],
                server: "s".into(),
                tool: None,
                json: None,
                typo: false,
            },
            McpError::ConfigNotFound {
                explicit: None,
                searched: vec![],
            },
            McpError::ConfigRead {
                path: "x".into(),
                source: io(std::io::ErrorKind::NotFound),
            },
            McpError::ConfigSyntax {
                path: "x".into(),
                line: 1,
                column: 1,
                message: "m".into(),
                snippet: String::new(),
            },
            McpError::ConfigInvalid {
                path: "x".into(),
                key: "k".into(),
                message: "m".into(),
            },
            McpError::MissingEnvVar {
                var: "V".into(),
                server: "s".into(),
                path: "x".into(),
            },
            McpError::InvalidSetting {
                var: "MCP_TIMEOUT".into(),
                value: "x".into(),
                expected: "e".into(),
            },
            McpError::ServerNotFound {
                server: "s".into(),
                disabled: false,
                available: vec![],
            },
            McpError::ToolNotFound {
                server: "s".into(),
                tool: "t".into(),
                similar: vec![],
                total: 0,
            },
            McpError::ToolDisabled {
                server: "s".into(),
                tool: "t".into(),
            },
            McpError::InvalidJsonArguments {
                message: "m".into(),
                origin: "argument",
            },
            McpError::NoMatch {
                pattern: "p".into(),
                servers: 0,
            },
            McpError::ToolError {
                server: "s".into(),
                tool: "t".into(),
                message: "m".into(),
            },
            McpError::ServerError {
                server: "s".into(),
                method: "m".into(),
                code: -32602,
                message: "m".into(),
                data: None,
            },
            McpError::Protocol {
                server: "s".into(),
                method: "m".into(),
                message: "m".into(),
                stderr: vec![],
            },
            McpError::operation_cancelled(Duration::from_secs(1)),
            McpError::max_retries_exceeded(2, Duration::ZERO, closed()),
            McpError::Interrupted { signal: 130 },
            McpError::Output(io(std::io::ErrorKind::BrokenPipe)),
        ];
        for error in &permanent {
            assert!(!is_transient(error), "{error:?}");
        }
    }

    fn fast() -> RetryConfig {
        RetryConfig {
            max_attempts: 4,
            base_delay_ms: 1,
            max_delay_ms: 5,
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let result = retry_with_backoff(
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(closed())
                } else {
                    Ok(7)
                }
            },
            &fast(),
        )
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn exhaustion_keeps_the_last_cause_and_permanent_errors_return_at_once() {
        let calls = AtomicU32::new(0);
        let error = retry_with_backoff(
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(closed())
            },
            &fast(),
        )
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        let McpError::MaxRetriesExceeded {
            attempts, source, ..
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(*attempts, 4);
        assert!(matches!(**source, McpError::ConnectionClosed { .. }));

        calls.store(0, Ordering::SeqCst);
        let error = retry_with_backoff(
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(McpError::usage("bad"))
            },
            &fast(),
        )
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(matches!(error, McpError::Usage { .. }));
    }

    #[tokio::test]
    async fn the_deadline_stops_retries_before_a_long_sleep() {
        let calls = AtomicU32::new(0);
        let config = RetryConfig {
            max_attempts: 5,
            base_delay_ms: 10_000,
            max_delay_ms: 30_000,
        };
        let started = std::time::Instant::now();
        let error = timeout_wrapper(
            retry_with_backoff(
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>(closed())
                },
                &config,
            ),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            matches!(error, McpError::ConnectionClosed { .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn timeout_wrapper_cancels_with_operation_cancelled() {
        let error = timeout_wrapper(
            async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(())
            },
            Duration::from_millis(50),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, McpError::OperationCancelled { timeout, .. } if timeout == Duration::from_millis(50))
        );
    }
}

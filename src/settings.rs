//! Settings from `MCP_*` variables, validated once at start-up.

use std::time::Duration;

/// What [`seconds`] takes, for messages.
pub const SECONDS: &str = "a number of seconds from 0.001 to 1000000000";

/// A number of seconds as a duration: from a millisecond (shorter would be
/// no time at all) to about 31 years.
pub fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && (0.001..1e9).contains(&value)).then(|| Duration::from_secs_f64(value))
}

use crate::env_vars;
use crate::error::McpError;

/// The `MCP_*` settings, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `MCP_TIMEOUT`.
    pub timeout: Duration,
    /// `MCP_REQUEST_TIMEOUT`.
    pub request_timeout: Option<Duration>,
    /// `MCP_LIST_TIMEOUT`.
    pub list_timeout: Duration,
    /// `MCP_CONCURRENCY`.
    pub concurrency: usize,
    /// `MCP_MAX_RETRIES`.
    pub retry_max: u32,
    /// `MCP_RETRY_DELAY`.
    pub retry_delay_ms: u64,
    /// `MCP_DEBUG`.
    pub debug: bool,
    /// `MCP_STRICT_ENV`.
    pub strict_env: bool,
    /// `MCP_NO_DAEMON`.
    pub no_daemon: bool,
    /// `MCP_DAEMON_TIMEOUT`.
    pub daemon_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(1800),
            request_timeout: None,
            list_timeout: Duration::from_secs(30),
            concurrency: 5,
            retry_max: 3,
            retry_delay_ms: 1000,
            debug: false,
            strict_env: true,
            no_daemon: false,
            daemon_timeout: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// Reads every setting from the environment; a bad value is an error.
    pub fn from_env() -> Result<Self, McpError> {
        Self::from_lookup(env_vars::get)
    }

    /// Reads every setting through `lookup` (the environment, or a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, McpError> {
        let defaults = Settings::default();
        let seconds = |var: &'static str| -> Result<Option<Duration>, McpError> {
            lookup(var)
                .map(|value| {
                    value.trim().parse::<f64>().ok().and_then(seconds).ok_or(
                        McpError::InvalidSetting {
                            var: var.into(),
                            value,
                            expected: SECONDS.into(),
                        },
                    )
                })
                .transpose()
        };
        let integer = |var: &'static str, expected: &'static str, min: u64| {
            lookup(var)
                .map(|value| {
                    value
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n >= min && *n <= u64::from(u32::MAX))
                        .ok_or(McpError::InvalidSetting {
                            var: var.into(),
                            value,
                            expected: expected.into(),
                        })
                })
                .transpose()
        };
        let boolean = |var: &'static str| {
            lookup(var)
                .map(|value| match value.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    _ => Err(McpError::InvalidSetting {
                        var: var.into(),
                        value,
                        expected: "true or false".into(),
                    }),
                })
                .transpose()
        };
        Ok(Settings {
            timeout: seconds(env_vars::MCP_TIMEOUT)?.unwrap_or(defaults.timeout),
            request_timeout: seconds(env_vars::MCP_REQUEST_TIMEOUT)?,
            list_timeout: seconds(env_vars::MCP_LIST_TIMEOUT)?.unwrap_or(defaults.list_timeout),
            concurrency: integer(env_vars::MCP_CONCURRENCY, "an integer of at least 1", 1)?
                .map_or(defaults.concurrency, |n| n as usize),
            retry_max: integer(env_vars::MCP_MAX_RETRIES, "an integer of at least 0", 0)?
                .map_or(defaults.retry_max, |n| n as u32),
            retry_delay_ms: integer(env_vars::MCP_RETRY_DELAY, "milliseconds, at least 0", 0)?
                .unwrap_or(defaults.retry_delay_ms),
            debug: boolean(env_vars::MCP_DEBUG)?.unwrap_or(defaults.debug),
            strict_env: boolean(env_vars::MCP_STRICT_ENV)?.unwrap_or(defaults.strict_env),
            no_daemon: boolean(env_vars::MCP_NO_DAEMON)?.unwrap_or(defaults.no_daemon),
            daemon_timeout: seconds(env_vars::MCP_DAEMON_TIMEOUT)?
                .unwrap_or(defaults.daemon_timeout),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, McpError> {
        Settings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn defaults_match_the_documentation() {
        let settings = from(&[]).unwrap();
        assert_eq!(settings, Settings::default());
        assert_eq!(settings.timeout, Duration::from_secs(1800));
        assert_eq!(settings.concurrency, 5);
        assert_eq!(settings.retry_max, 3);
        assert_eq!(settings.retry_delay_ms, 1000);
        assert!(settings.strict_env);
    }

    #[test]
    fn values_parse_and_bad_ones_are_named() {
        let settings = from(&[
            ("MCP_TIMEOUT", "2.5"),
            ("MCP_MAX_RETRIES", "0"),
            ("MCP_DEBUG", "1"),
            ("MCP_STRICT_ENV", "false"),
        ])
        .unwrap();
        assert_eq!(settings.timeout, Duration::from_millis(2500));
        assert_eq!(settings.retry_max, 0);
        assert!(settings.debug);
        assert!(!settings.strict_env);
        for (var, value) in [
            ("MCP_TIMEOUT", "abc"),
            ("MCP_TIMEOUT", "0"),
            ("MCP_CONCURRENCY", "0"),
            ("MCP_MAX_RETRIES", "-1"),
            ("MCP_DEBUG", "maybe"),
        ] {
            let error = from(&[(var, value)]).unwrap_err();
            assert!(
                matches!(&error, McpError::InvalidSetting { var: v, .. } if v == var),
                "{var}={value}: {error:?}"
            );
        }
    }
}

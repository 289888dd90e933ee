//! Values that must never be printed: passwords, private keys, JAAS lines with credentials.
//!
//! [`Secret`] holds such a value; its `Debug` and `Display` print `******`, so a secret that ends
//! up in a log line, a `{:?}` of a settings struct, an error message or a panic message shows
//! only that it was there. The value is reached with [`Secret::expose`], which is written only
//! where the value is handed to the component that needs it (librdkafka, an HTTP header).
//! [`is_secret_key`] tells which configuration keys carry secrets, for the places that hold a
//! configuration as plain text (the properties of a component) and mask them when printed.

use std::fmt;
use std::str::FromStr;

/// What is printed instead of a secret.
pub const MASK: &str = "******";

/// A value that prints as `******`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

/// For command-line arguments (clap parses a `Secret` like a string).
impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// Whether a configuration key (Flume's, Kafka's or librdkafka's name, with or without its
/// prefix) carries a secret: passwords, secrets, private keys, JAAS configurations, tokens.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password")
        || key.contains("secret")
        || key.contains("jaas")
        || key.contains("token")
        || key.ends_with("ssl.key.pem")
        || key.ends_with("ssl.keystore.key")
        || key.ends_with("sasl.oauthbearer.config")
}

/// Replaces known secret values in text that came from elsewhere (a librdkafka message that
/// quotes a configuration value, a command's error output): the last line of defence for text
/// rflume did not write itself.
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    secrets: Vec<Secret>,
}

impl Scrubber {
    /// Values shorter than 4 characters are not scrubbed: they would mask ordinary words.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let mut secrets: Vec<Secret> = secrets
            .into_iter()
            .filter(|s| s.expose().chars().count() >= 4)
            .cloned()
            .collect();
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
        Scrubber { secrets }
    }

    pub fn scrub<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let mut out = std::borrow::Cow::Borrowed(text);
        for s in &self.secrets {
            if out.contains(s.expose()) {
                out = std::borrow::Cow::Owned(out.replace(s.expose(), MASK));
            }
        }
        out
    }
}

/// `value`, or the mask when `key` carries a secret.
pub fn shown<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret_key(key) {
        MASK
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), MASK);
        assert_eq!(format!("{s:?}"), "Secret(******)");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(Secret(******))");
        assert_eq!(s.expose(), "hunter2");
        let parsed: Secret = "pw".parse().unwrap_or_default();
        assert_eq!(parsed.expose(), "pw");
    }

    #[test]
    fn scrubber_masks_known_values_only() {
        let secrets = [
            Secret::new("hunter2"),
            Secret::new("pw"),
            Secret::new("hunter2-long"),
        ];
        let s = Scrubber::new(&secrets);
        assert_eq!(
            s.scrub("bad hunter2-long and hunter2, pw stays"),
            "bad ****** and ******, pw stays"
        );
        assert!(matches!(s.scrub("clean"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn secret_keys() {
        for k in [
            "kafka.producer.sasl.jaas.config",
            "kafka.producer.ssl.key.password",
            "kafka.producer.ssl.keystore.password",
            "kafka.producer.sasl.password",
            "kafka.producer.ssl.keystore.key",
            "ssl.key.pem",
            "sasl.oauthbearer.client.secret",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "kafka.topic",
            "kafka.producer.ssl.ca.location",
            "sasl.username",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}

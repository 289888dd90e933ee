//! `sasl.jaas.config` → librdkafka's SASL settings. Java configures a login module with a JAAS
//! line (`<LoginModule> <flag> key=value …;`); librdkafka has no JAAS, only plain properties, so
//! the modules with an equivalent (PLAIN, SCRAM, Kerberos from a keytab) become those properties
//! and any other is an error that says what to write instead.
//!
//! The line is read as Kafka's `JaasConfig` reads it (Java's `StreamTokenizer`): values quoted
//! with `"` or `'` (the corpus writes `username='…' password='…'`) or bare words, backslash
//! escapes inside quotes, the control flag in any case (`required`, `REQUIRED`), and exactly one
//! login module, ended by `;`.

/// Why a `sasl.jaas.config` line cannot be used.
#[derive(Debug, PartialEq)]
pub(super) enum JaasError {
    /// Kafka's `JaasConfig` refuses the line too: a config error, as in Flume.
    Invalid(String),
    /// Java runs it (a login module, or a Kerberos login from the ticket cache, that librdkafka
    /// has no equivalent of): rflume cannot, so the component is unsupported.
    NoEquivalent(String),
}

impl std::fmt::Display for JaasError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JaasError::Invalid(m) | JaasError::NoEquivalent(m) => f.write_str(m),
        }
    }
}

impl From<String> for JaasError {
    fn from(m: String) -> Self {
        JaasError::Invalid(m)
    }
}

impl From<&str> for JaasError {
    fn from(m: &str) -> Self {
        JaasError::Invalid(m.to_string())
    }
}

/// `sasl.jaas.config` → librdkafka settings. Java's syntax: `<LoginModule> <flag> key=value …;`.
pub(super) fn parse_jaas(text: &str) -> Result<Vec<(&'static str, String)>, JaasError> {
    let mut tokens = JaasTokens { rest: text.trim() };
    let module = tokens.word().ok_or("empty value")?;
    let flag = tokens
        .word()
        .ok_or("no control flag after the login module")?;
    // JaasConfig: LoginModuleControlFlag from value.toUpperCase(Locale.ROOT).
    if !["required", "requisite", "sufficient", "optional"]
        .iter()
        .any(|f| f.eq_ignore_ascii_case(&flag))
    {
        // The word is not echoed: in a mistyped line it may be a credential.
        return Err(JaasError::Invalid(
            "the word after the login module is not a JAAS control flag (required, requisite, \
             sufficient or optional)"
                .to_string(),
        ));
    }
    let mut options: Vec<(String, String)> = Vec::new();
    while let Some((k, v)) = tokens.option()? {
        options.push((k, v));
    }
    tokens.end_of_module()?;
    let get = |name: &str| {
        options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let short = module.rsplit('.').next().unwrap_or(&module).to_string();
    match short.as_str() {
        "PlainLoginModule" | "ScramLoginModule" => {
            let user = get("username").ok_or(format!("{short} without username"))?;
            let password = get("password").ok_or(format!("{short} without password"))?;
            Ok(vec![("sasl.username", user), ("sasl.password", password)])
        }
        "Krb5LoginModule" => {
            let mut v = Vec::new();
            if let Some(p) = get("principal") {
                v.push(("sasl.kerberos.principal", p));
            }
            if let Some(k) = get("keyTab") {
                v.push(("sasl.kerberos.keytab", k));
            } else {
                return Err(JaasError::NoEquivalent(
                    "Krb5LoginModule without keyTab (librdkafka logs in from a keytab)".into(),
                ));
            }
            Ok(v)
        }
        // Only a name that looks like a login module class is echoed (a mistyped line may start
        // with a credential).
        _ if short.ends_with("LoginModule") => Err(JaasError::NoEquivalent(format!(
            "login module {module} has no librdkafka equivalent"
        ))),
        _ => Err(JaasError::Invalid(
            "the value does not start with a login module class (e.g. \
             org.apache.kafka.common.security.plain.PlainLoginModule)"
                .to_string(),
        )),
    }
}

struct JaasTokens<'a> {
    rest: &'a str,
}

impl JaasTokens<'_> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn word(&mut self) -> Option<String> {
        self.skip_ws();
        let end = self
            .rest
            .find(|c: char| c.is_whitespace() || c == ';' || c == '=')
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let w = self.rest[..end].to_string();
        self.rest = &self.rest[end..];
        Some(w)
    }

    /// After the options: `;`, then nothing but white space (Kafka allows one login module).
    fn end_of_module(&mut self) -> Result<(), String> {
        self.skip_ws();
        let Some(rest) = self.rest.strip_prefix(';') else {
            return Err("the login module's options must end with ';'".into());
        };
        let modules_after = rest.split(';').filter(|m| !m.trim().is_empty()).count();
        if modules_after > 0 {
            return Err(format!(
                "JAAS config property contains {} login modules, should be 1",
                modules_after + 1
            ));
        }
        Ok(())
    }

    /// `key=value`, `key="quoted \" value"` or `key='quoted'`; `None` at `;` or the end.
    fn option(&mut self) -> Result<Option<(String, String)>, String> {
        self.skip_ws();
        if self.rest.is_empty() || self.rest.starts_with(';') {
            return Ok(None);
        }
        let key = self.word().ok_or("expected key=value")?;
        self.skip_ws();
        // The word is not echoed: without its `=` it may be a credential.
        self.rest = self
            .rest
            .strip_prefix('=')
            .ok_or("an option without '=' (expected key=value)")?;
        self.skip_ws();
        let quote = self.rest.chars().next().filter(|c| *c == '"' || *c == '\'');
        if let Some(q) = quote {
            let quoted = &self.rest[1..];
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    // StreamTokenizer's escapes inside a quoted string.
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, n)) => value.push(n),
                        None => {}
                    },
                    c if c == q => {
                        self.rest = &quoted[i + 1..];
                        return Ok(Some((key, value)));
                    }
                    c => value.push(c),
                }
            }
            Err(format!("unterminated quote in the value of {key}"))
        } else {
            let value = self.word().unwrap_or_default();
            Ok(Some((key, value)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaas_config_becomes_librdkafka_credentials() {
        let v = parse_jaas(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="s3cr\"et";"#,
        )
        .unwrap();
        assert_eq!(
            v,
            vec![
                ("sasl.username", "alice".to_string()),
                ("sasl.password", "s3cr\"et".to_string())
            ]
        );
        let v = parse_jaas(
            r#"com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab="/k.keytab" principal="c@EX.COM";"#,
        )
        .unwrap();
        assert_eq!(
            v,
            vec![
                ("sasl.kerberos.principal", "c@EX.COM".to_string()),
                ("sasl.kerberos.keytab", "/k.keytab".to_string())
            ]
        );
        assert!(parse_jaas(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
        )
        .is_err());
        assert!(parse_jaas("x.PlainLoginModule maybe;").is_err());
    }

    /// Kafka's JaasConfig: single or double quotes, the flag in any case, one module.
    #[test]
    fn quotes_flags_and_modules_as_kafka_reads_them() {
        let plain = |user: &str, password: &str| {
            vec![
                ("sasl.username", user.to_string()),
                ("sasl.password", password.to_string()),
            ]
        };
        // The corpus's own style (029-bdp-flume-kafka-flume.conf).
        assert_eq!(
            parse_jaas("org.apache.kafka.common.security.plain.PlainLoginModule required username='<Kafka API Key>' password='<Kafka API Secret>';"),
            Ok(plain("<Kafka API Key>", "<Kafka API Secret>"))
        );
        assert_eq!(
            parse_jaas(
                r#"org.apache.kafka.common.security.scram.ScramLoginModule REQUIRED username="u" password='it\'s "q"';"#
            ),
            Ok(plain("u", r#"it's "q""#))
        );
        assert_eq!(
            parse_jaas("x.PlainLoginModule Required username=bob password=pw;"),
            Ok(plain("bob", "pw"))
        );
        assert!(
            parse_jaas("x.PlainLoginModule required username='u' password='p'")
                .map_err(invalid)
                .unwrap_err()
                .contains("must end with ';'")
        );
        assert!(parse_jaas("x.PlainLoginModule required username='u' password='p'; y.PlainLoginModule required username='v' password='q';")
            .map_err(invalid).unwrap_err().contains("2 login modules, should be 1"));
        assert!(
            parse_jaas("x.PlainLoginModule required username='u password=p;")
                .map_err(invalid)
                .unwrap_err()
                .contains("unterminated quote")
        );
    }

    /// The message of an error Java's `JaasConfig` raises too.
    fn invalid(e: JaasError) -> String {
        match e {
            JaasError::Invalid(m) => m,
            other => panic!("expected a line Java refuses too, got {other:?}"),
        }
    }

    #[test]
    fn modules_java_runs_and_librdkafka_cannot_are_told_apart_from_invalid_lines() {
        assert!(matches!(
            parse_jaas("com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true;"),
            Err(JaasError::NoEquivalent(m)) if m.contains("without keyTab")
        ));
        assert!(matches!(
            parse_jaas("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"),
            Err(JaasError::NoEquivalent(m)) if m.contains("OAuthBearerLoginModule has no librdkafka equivalent")
        ));
        assert!(matches!(
            parse_jaas("username='u' password='p';"),
            Err(JaasError::Invalid(_))
        ));
    }
}

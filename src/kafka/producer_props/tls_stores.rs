//! TLS key and trust stores: Java's producer reads JKS and PKCS#12 stores, librdkafka reads a
//! PKCS#12 keystore and PEM files but never JKS. Each `ssl.keystore.location` /
//! `ssl.truststore.location` becomes the librdkafka settings for its store type, or an error that
//! gives the `keytool`/`openssl` command converting the store to a form librdkafka reads.

use std::collections::BTreeMap;

use super::{ProducerProps, UserSetting};
use crate::config::reader::PropReader;

/// The store's type: `ssl.*store.type` if set, else what Java would end up reading: Kafka's
/// default type is JKS, but Java 8u60+ also loads a PKCS#12 file through a JKS keystore, so a
/// `.p12`/`.pfx` file is taken for what it is.
fn store_type(by_key: &BTreeMap<&str, &UserSetting>, type_key: &str, path: &str) -> String {
    if let Some(s) = by_key.get(type_key) {
        return s.value.to_ascii_uppercase();
    }
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".p12") || lower.ends_with(".pfx") {
        "PKCS12".to_string()
    } else {
        "JKS".to_string()
    }
}

/// A client keystore. librdkafka reads PKCS#12 (`ssl.keystore.location`) or PEM
/// (`ssl.certificate.location` + `ssl.key.location`), never JKS.
pub(super) fn keystore(
    r: &mut PropReader,
    s: &UserSetting,
    by_key: &BTreeMap<&str, &UserSetting>,
    out: &mut ProducerProps,
) {
    let from = Some(s.flume_key.clone());
    let path = s.value.as_str();
    let kind = store_type(by_key, "ssl.keystore.type", path);
    match kind.as_str() {
        "PKCS12" => out.push("ssl.keystore.location", path, from, None),
        "PEM" => {
            out.push("ssl.certificate.location", path, from.clone(), Some("PEM keystore".into()));
            out.push("ssl.key.location", path, from, Some("PEM keystore".into()));
        }
        _ => r.unsupported(
            &s.flume_key,
            Some(s.line),
            format!("librdkafka cannot read a {kind} keystore ({path})"),
            Some(format!(
                "convert it to PKCS#12: `keytool -importkeystore -srckeystore {path} -destkeystore \
                 client.p12 -deststoretype PKCS12`, then set kafka.producer.ssl.keystore.location = \
                 client.p12 and kafka.producer.ssl.keystore.type = PKCS12 (or export PEM files with \
                 `openssl pkcs12 -in client.p12 -nokeys -out client.crt` and `-nocerts -nodes -out \
                 client.key` and use kafka.producer.ssl.certificate.location / ssl.key.location)"
            )),
        ),
    }
}

/// A trust store. librdkafka trusts PEM CA certificates (`ssl.ca.location`) only.
pub(super) fn truststore(
    r: &mut PropReader,
    s: &UserSetting,
    by_key: &BTreeMap<&str, &UserSetting>,
    out: &mut ProducerProps,
) {
    let path = s.value.as_str();
    let kind = store_type(by_key, "ssl.truststore.type", path);
    if kind == "PEM" {
        out.push(
            "ssl.ca.location",
            path,
            Some(s.flume_key.clone()),
            Some("PEM trust store".into()),
        );
        return;
    }
    r.unsupported(
        &s.flume_key,
        Some(s.line),
        format!(
            "librdkafka cannot read a {kind} trust store ({path}); it trusts PEM CA certificates"
        ),
        Some(format!(
            "export the CA certificates to PEM: `keytool -exportcert -rfc -keystore {path} -alias \
             <ca-alias> -file ca.pem` (one per CA, concatenated), then replace this line and \
             ssl.truststore.password with kafka.producer.ssl.ca.location = ca.pem"
        )),
    );
}

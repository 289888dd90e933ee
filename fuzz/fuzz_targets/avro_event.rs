//! The Kafka sink's Avro `AvroFlumeEvent` encoder against the Apache Avro reference decoder: any
//! headers and body encode to exactly one datum that decodes, with Flume's schema, to the same
//! headers and body; the HashMap order model is a permutation.
#![no_main]

use std::collections::HashMap;

use apache_avro::types::Value;
use apache_avro::Schema;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rflume::event::Headers;
use rflume::java::java_hashmap_order;
use rflume::kafka::avro::encode_flume_event;

const FLUME_EVENT_SCHEMA: &str = r#"{"type":"record","name":"AvroFlumeEvent","namespace":"org.apache.flume.source.avro","fields":[{"name":"headers","type":{"type":"map","values":"string"}},{"name":"body","type":"bytes"}]}"#;

#[derive(Arbitrary, Debug)]
struct Input {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let headers: Headers = input.headers.iter().cloned().collect();
    let mut out = Vec::new();
    encode_flume_event(&headers, &input.body, &mut out);

    let schema = Schema::parse_str(FLUME_EVENT_SCHEMA).expect("schema");
    let mut reader = &out[..];
    let value = apache_avro::from_avro_datum(&schema, &mut reader, None).expect("decodes");
    assert!(reader.is_empty(), "exactly one datum");
    let Value::Record(fields) = value else {
        panic!("not a record")
    };
    let Value::Map(map) = &fields[0].1 else {
        panic!("headers not a map")
    };
    let want: HashMap<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    assert_eq!(map, &want);
    assert_eq!(fields[1].1, Value::Bytes(input.body.clone()));

    let keys: Vec<&str> = headers.iter().map(|(k, _)| k).collect();
    let mut order = java_hashmap_order(&keys);
    order.sort_unstable();
    assert_eq!(order, (0..keys.len()).collect::<Vec<_>>());
});

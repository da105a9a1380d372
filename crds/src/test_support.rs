//! Helpers shared by the resource modules' unit tests: parsing an example manifest, and the
//! JSON round trip every resource must survive.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An example manifest, parsed (the test fails when it does not parse).
pub(crate) fn parse<T: DeserializeOwned>(yaml: &str) -> T {
    yaml_serde::from_str(yaml).expect("example manifest parses")
}

/// `value` serialized to JSON, after checking that this JSON deserializes back to `value`.
pub(crate) fn round_trip_json<T>(value: &T) -> serde_json::Value
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let json = serde_json::to_value(value).expect("serializes");
    let back: T = serde_json::from_value(json.clone()).expect("deserializes");
    assert_eq!(&back, value);
    json
}

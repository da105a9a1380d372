//! Liberal deserializers for the MONITOR_STAT JSON.
//!
//! Statistics come from stock Elliptics nodes of several versions (and from ours), and a
//! single odd value must not cost the client a whole node's statistics. These helpers,
//! used through `#[serde(deserialize_with = ...)]`, never fail on well-formed JSON:
//!
//! * numbers ([`num`], [`opt_num`]) accept JSON integers of either sign, floats
//!   (truncated), booleans (0/1) and numeric strings (decimal or `0x` hex — a disabled
//!   backend's `config_template` carries config values as strings); out-of-range values
//!   saturate; anything else becomes the default (or `None`);
//! * strings ([`string`], [`opt_string`]) accept numbers and booleans as their text;
//! * objects ([`obj`], [`opt_obj`], [`opt_map`]) accept only JSON objects;
//!   another JSON type becomes the default (or `None`, or is left out of a map).
//!
//! Missing fields are handled by `#[serde(default)]` on the containers.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// An integer type a JSON value can be converted to, saturating.
pub(crate) trait Number: Copy + Default {
    /// From an unsigned JSON integer.
    fn from_u64(v: u64) -> Self;
    /// From a signed JSON integer.
    fn from_i64(v: i64) -> Self;
    /// From a non-NaN JSON float (truncated toward zero, saturating).
    fn from_f64(v: f64) -> Self;
}

macro_rules! impl_number {
    ($($t:ty),*) => {$(
        impl Number for $t {
            fn from_u64(v: u64) -> Self {
                <$t>::try_from(v).unwrap_or(<$t>::MAX)
            }
            fn from_i64(v: i64) -> Self {
                <$t>::try_from(v).unwrap_or(if v < 0 { <$t>::MIN } else { <$t>::MAX })
            }
            fn from_f64(v: f64) -> Self {
                // `as` from a float saturates at the bounds and maps NaN to 0.
                v as $t
            }
        }
    )*};
}

impl_number!(u64, i64, u32, i32);

/// Parses a numeric string: decimal integer (either sign), `0x` hex, or a float.
fn parse_number<T: Number>(s: &str) -> Option<T> {
    let s = s.trim();
    if let Ok(v) = s.parse::<u64>() {
        return Some(T::from_u64(v));
    }
    if let Ok(v) = s.parse::<i64>() {
        return Some(T::from_i64(v));
    }
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(T::from_u64);
    }
    match s.parse::<f64>() {
        Ok(v) if !v.is_nan() => Some(T::from_f64(v)),
        _ => None,
    }
}

/// Consumes the rest of a JSON object.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Consumes the rest of a JSON array.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// The visitor methods of the scalar visitors for a null and for a container (which is
/// consumed): the value becomes `$value`.
macro_rules! null_or_container_is {
    ($value:expr) => {
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            drain_map(map).map(|()| $value)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            drain_seq(seq).map(|()| $value)
        }
    };
}

/// Visitor of [`opt_num`]: `Some` for anything that reads as a number.
struct NumVisitor<T>(PhantomData<T>);

impl<'de, T: Number> Visitor<'de> for NumVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(T::from_u64(u64::from(v))))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(T::from_i64(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(T::from_u64(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok((!v.is_nan()).then(|| T::from_f64(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(parse_number(v))
    }
    null_or_container_is!(None);
}

/// A number, or 0 when the value is not numeric.
pub(crate) fn num<'de, D: Deserializer<'de>, T: Number>(d: D) -> Result<T, D::Error> {
    opt_num(d).map(Option::unwrap_or_default)
}

/// A number, or `None` when the value is null or not numeric.
pub(crate) fn opt_num<'de, D: Deserializer<'de>, T: Number>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_any(NumVisitor(PhantomData))
}

/// Visitor of [`boolean`].
struct BoolVisitor;

impl<'de> Visitor<'de> for BoolVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean")
    }
    fn visit_bool<E>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
    fn visit_i64<E>(self, v: i64) -> Result<bool, E> {
        Ok(v != 0)
    }
    fn visit_u64<E>(self, v: u64) -> Result<bool, E> {
        Ok(v != 0)
    }
    fn visit_f64<E>(self, v: f64) -> Result<bool, E> {
        Ok(v != 0.0 && !v.is_nan())
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        let v = v.trim();
        Ok(v.eq_ignore_ascii_case("true")
            || v.eq_ignore_ascii_case("yes")
            || v.eq_ignore_ascii_case("on")
            || parse_number::<i64>(v).is_some_and(|n| n != 0))
    }
    null_or_container_is!(false);
}

/// A boolean; numbers are true when non-zero, strings when `true`/`yes`/`on`/non-zero.
pub(crate) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    d.deserialize_any(BoolVisitor)
}

/// Visitor of [`opt_string`].
struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    null_or_container_is!(None);
}

/// A string (numbers and booleans as their text), or empty.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_string(d).map(Option::unwrap_or_default)
}

/// A string (numbers and booleans as their text), or `None` for null and containers.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(StrVisitor)
}

/// `T` read from a JSON object; `None` for any other JSON type.
pub(crate) struct Obj<T>(pub(crate) Option<T>);

/// The visitor methods of [`ObjVisitor`] and [`MapVisitor`] for everything that is not a
/// JSON object: the value becomes `$ctor(None)` (a `null` goes through `visit_some`).
macro_rules! non_object_is_none {
    ($ctor:ident) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            drain_seq(seq).map(|()| $ctor(None))
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($ctor(None))
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($ctor(None))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($ctor(None))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($ctor(None))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($ctor(None))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($ctor(None))
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($ctor(None))
        }
    };
}

/// Visitor of [`Obj`].
struct ObjVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
    type Value = Obj<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|v| Obj(Some(v)))
    }
    non_object_is_none!(Obj);
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjVisitor(PhantomData))
    }
}

/// A struct from a JSON object, or its default for any other JSON type.
pub(crate) fn obj<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Obj::deserialize(d).map(|o| o.0.unwrap_or_default())
}

/// A struct from a JSON object, or `None` for any other JSON type.
pub(crate) fn opt_obj<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Obj::deserialize(d).map(|o| o.0)
}

/// A string-keyed map from a JSON object whose entries that are not objects are left
/// out; `None` for any other JSON type.
pub(crate) struct Map<T>(pub(crate) Option<BTreeMap<String, T>>);

/// Visitor of [`Map`].
struct MapVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for MapVisitor<T> {
    type Value = Map<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Obj(Some(value)) = map.next_value::<Obj<T>>()? {
                out.insert(key, value);
            }
        }
        Ok(Map(Some(out)))
    }
    non_object_is_none!(Map);
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Map<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MapVisitor(PhantomData))
    }
}

/// A map of objects (see [`Map`]), or `None` when the value is not an object.
pub(crate) fn opt_map<'de, D, T>(d: D) -> Result<Option<BTreeMap<String, T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Map::deserialize(d).map(|m| m.0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Inner {
        #[serde(deserialize_with = "super::num")]
        a: u64,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Probe {
        #[serde(deserialize_with = "super::num")]
        u: u64,
        #[serde(deserialize_with = "super::num")]
        i: i64,
        #[serde(deserialize_with = "super::num")]
        small: u32,
        #[serde(deserialize_with = "super::num")]
        signed: i32,
        #[serde(deserialize_with = "super::opt_num")]
        maybe: Option<i64>,
        #[serde(deserialize_with = "super::boolean")]
        flag: bool,
        #[serde(deserialize_with = "super::string")]
        text: String,
        #[serde(deserialize_with = "super::obj")]
        inner: Inner,
        #[serde(deserialize_with = "super::opt_obj")]
        opt_inner: Option<Inner>,
        #[serde(deserialize_with = "super::opt_map")]
        entries: Option<BTreeMap<String, Inner>>,
    }

    fn probe(json: &str) -> Probe {
        match serde_json::from_str(json) {
            Ok(p) => p,
            Err(e) => panic!("{json}: {e}"),
        }
    }

    #[test]
    fn numbers_in_every_form() {
        let p = probe(
            r#"{"u":"0x10","i":-5,"small":1e12,"signed":-3000000000,"maybe":"12",
                "flag":1,"text":42,"inner":{"a":"7"},"opt_inner":null,
                "entries":{"x":{"a":1},"y":3,"z":[1,2]}}"#,
        );
        assert_eq!(p.u, 16);
        assert_eq!(p.i, -5);
        assert_eq!(p.small, u32::MAX);
        assert_eq!(p.signed, i32::MIN);
        assert_eq!(p.maybe, Some(12));
        assert!(p.flag);
        assert_eq!(p.text, "42");
        assert_eq!(p.inner, Inner { a: 7 });
        assert_eq!(p.opt_inner, None);
        let entries = p.entries.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries["x"], Inner { a: 1 });
    }

    #[test]
    fn wrong_types_become_defaults() {
        let p = probe(
            r#"{"u":-1,"i":18446744073709551615,"small":{"x":1},"signed":[1,[2]],
                "maybe":{},"flag":"no","text":{"a":[1]},"inner":[1,2,3],
                "opt_inner":5,"entries":"nope","unknown":{"deep":[{"x":null}]}}"#,
        );
        assert_eq!(p.u, 0);
        assert_eq!(p.i, i64::MAX);
        assert_eq!(p.small, 0);
        assert_eq!(p.signed, 0);
        assert_eq!(p.maybe, None);
        assert!(!p.flag);
        assert_eq!(p.text, "");
        assert_eq!(p.inner, Inner::default());
        assert_eq!(p.opt_inner, None);
        assert_eq!(p.entries, None);
    }

    #[test]
    fn nulls_and_missing_fields() {
        assert_eq!(probe("{}"), Probe::default());
        let p = probe(r#"{"u":null,"text":null,"inner":null,"flag":null,"maybe":null}"#);
        assert_eq!(p, Probe::default());
    }
}

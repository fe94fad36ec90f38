//! The Summary API blocks the extra resources are read from (`fs`, `rootfs`, `logs`,
//! `ephemeral-storage`: `usedBytes`; `swap`: `swapUsageBytes`). They are read leniently: a
//! block or a value of another shape than expected is no figure, never an error, so a
//! malformed block fails nothing (and decodes alike whether extra resources are asked for or
//! not). Only malformed JSON is an error, as anywhere in the body.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Text;

/// The key a block's figure is under.
pub(super) trait FigureKey {
    const KEY: &'static str;
}

/// `usedBytes` of a filesystem block.
pub(super) struct UsedBytes;
impl FigureKey for UsedBytes {
    const KEY: &'static str = "usedBytes";
}

/// `swapUsageBytes` of a swap block.
pub(super) struct SwapUsageBytes;
impl FigureKey for SwapUsageBytes {
    const KEY: &'static str = "swapUsageBytes";
}

/// A block's figure: a non-negative integer (or a float, truncated) under `K::KEY` of an
/// object; anything else is none.
pub(super) struct Block<K> {
    pub bytes: Option<u64>,
    key: PhantomData<K>,
}

/// A filesystem block.
pub(super) type FsBlock = Block<UsedBytes>;
/// A swap block.
pub(super) type SwapBlock = Block<SwapUsageBytes>;

impl<K> Block<K> {
    fn of(bytes: Option<u64>) -> Self {
        Block {
            bytes,
            key: PhantomData,
        }
    }
}

impl<'de, K: FigureKey> Deserialize<'de> for Block<K> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(BlockVisitor(PhantomData))
    }
}

struct BlockVisitor<K>(PhantomData<K>);

impl<'de, K: FigureKey> Visitor<'de> for BlockVisitor<K> {
    type Value = Block<K>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Block<K>, A::Error> {
        let mut bytes = None;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            if key.0 == K::KEY {
                bytes = map.next_value::<Figure>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Block::of(bytes))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Block<K>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Block::of(None))
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Block<K>, D::Error> {
        Block::deserialize(de)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Block<K>, E> {
        Ok(Block::of(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Block<K>, E> {
        Ok(Block::of(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Block<K>, E> {
        Ok(Block::of(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Block<K>, E> {
        Ok(Block::of(None))
    }

    fn visit_str<E>(self, _: &str) -> Result<Block<K>, E> {
        Ok(Block::of(None))
    }

    fn visit_unit<E>(self) -> Result<Block<K>, E> {
        Ok(Block::of(None))
    }

    fn visit_none<E>(self) -> Result<Block<K>, E> {
        Ok(Block::of(None))
    }
}

/// A figure: any JSON value; a number that can be a byte count is one (truncated like the
/// decoder's other values), anything else none.
struct Figure(Option<u64>);

impl<'de> Deserialize<'de> for Figure {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(FigureVisitor)
    }
}

struct FigureVisitor;

impl<'de> Visitor<'de> for FigureVisitor {
    type Value = Figure;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_u64<E>(self, v: u64) -> Result<Figure, E> {
        Ok(Figure(Some(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Figure, E> {
        Ok(Figure(u64::try_from(v).ok()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Figure, E> {
        let in_range = v.is_finite() && (0.0..u64::MAX as f64).contains(&v);
        Ok(Figure(in_range.then_some(v as u64)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Figure, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Figure(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Figure, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Figure(None))
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Figure, D::Error> {
        Figure::deserialize(de)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Figure, E> {
        Ok(Figure(None))
    }

    fn visit_str<E>(self, _: &str) -> Result<Figure, E> {
        Ok(Figure(None))
    }

    fn visit_unit<E>(self) -> Result<Figure, E> {
        Ok(Figure(None))
    }

    fn visit_none<E>(self) -> Result<Figure, E> {
        Ok(Figure(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(json: &str) -> Option<u64> {
        serde_json::from_str::<FsBlock>(json).unwrap().bytes
    }

    #[test]
    fn the_figure_of_a_block_or_none_never_an_error() {
        assert_eq!(
            fs(r#"{"time":"x","usedBytes":4096,"inodes":{"a":[1]}}"#),
            Some(4096)
        );
        assert_eq!(fs(r#"{"usedBytes":1.5e3}"#), Some(1500));
        for other in [
            r#"{"usedBytes":-1}"#,
            r#"{"usedBytes":"12"}"#,
            r#"{"usedBytes":{"a":1}}"#,
            r#"{"usedBytes":null}"#,
            r#"{}"#,
            r#"[1,{"usedBytes":1}]"#,
            r#""text""#,
            "12",
            "true",
            "null",
        ] {
            assert_eq!(fs(other), None, "{other}");
        }
        let swap: SwapBlock = serde_json::from_str(r#"{"swapUsageBytes":7}"#).unwrap();
        assert_eq!(swap.bytes, Some(7));
        assert!(
            serde_json::from_str::<FsBlock>(r#"{"usedBytes":}"#).is_err(),
            "bad JSON"
        );
    }
}

//! What the known-answer tests share: a small reader for the vectors'
//! fixed JSON format (no serde_json here: objects, arrays, UTF-8 strings and
//! unsigned integers), hex, and a generator that hands out a vector's random
//! draws in order.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

// ------------------------------------------------------------------ JSON
// A small reader for the transcript's fixed format (no serde_json here):
// objects, arrays, UTF-8 strings and unsigned integers.

#[derive(Debug, Clone)]
pub enum Json {
    Number(u64),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> u8 {
        while self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
        self.bytes[self.at]
    }

    fn expect(&mut self, byte: u8) {
        assert_eq!(self.peek(), byte, "JSON: expected {:?} at {}", byte as char, self.at);
        self.at += 1;
    }

    fn value(&mut self) -> Json {
        match self.peek() {
            b'{' => {
                self.at += 1;
                let mut map = BTreeMap::new();
                if self.peek() == b'}' {
                    self.at += 1;
                    return Json::Object(map);
                }
                loop {
                    let Json::String(key) = self.value() else {
                        panic!("JSON: object key is not a string at {}", self.at)
                    };
                    self.expect(b':');
                    map.insert(key, self.value());
                    match self.peek() {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Json::Object(map);
                        }
                        other => panic!("JSON: unexpected {:?} at {}", other as char, self.at),
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.peek() == b']' {
                    self.at += 1;
                    return Json::Array(items);
                }
                loop {
                    items.push(self.value());
                    match self.peek() {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Json::Array(items);
                        }
                        other => panic!("JSON: unexpected {:?} at {}", other as char, self.at),
                    }
                }
            }
            b'"' => {
                self.at += 1;
                let mut out = Vec::new();
                loop {
                    let byte = self.bytes[self.at];
                    self.at += 1;
                    match byte {
                        b'"' => return Json::String(String::from_utf8(out).unwrap()),
                        b'\\' => {
                            let escaped = self.bytes[self.at];
                            self.at += 1;
                            out.push(match escaped {
                                b'"' | b'\\' | b'/' => escaped,
                                b'n' => b'\n',
                                b't' => b'\t',
                                other => panic!("JSON: unsupported escape \\{}", other as char),
                            });
                        }
                        _ => out.push(byte),
                    }
                }
            }
            b'0'..=b'9' => {
                let start = self.at;
                while self.bytes[self.at].is_ascii_digit() {
                    self.at += 1;
                }
                let digits = std::str::from_utf8(&self.bytes[start..self.at]).unwrap();
                Json::Number(digits.parse().unwrap())
            }
            other => panic!("JSON: unexpected {:?} at {}", other as char, self.at),
        }
    }
}

pub fn parse_json(text: &str) -> Json {
    let mut parser = Parser { bytes: text.as_bytes(), at: 0 };
    let value = parser.value();
    assert!(parser.bytes[parser.at..].iter().all(u8::is_ascii_whitespace), "JSON: trailing data");
    value
}

impl Json {
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(map) => map.get(key).unwrap_or_else(|| panic!("JSON: no key {key:?}")),
            _ => panic!("JSON: not an object (looking up {key:?})"),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        matches!(self, Json::Object(map) if map.contains_key(key))
    }

    pub fn str(&self) -> &str {
        match self {
            Json::String(s) => s,
            _ => panic!("JSON: not a string: {self:?}"),
        }
    }

    pub fn u32(&self) -> u32 {
        match self {
            Json::Number(n) => u32::try_from(*n).unwrap(),
            _ => panic!("JSON: not a number: {self:?}"),
        }
    }

    pub fn usize(&self) -> usize {
        usize::try_from(self.u32()).unwrap()
    }

    pub fn array(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            _ => panic!("JSON: not an array: {self:?}"),
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        unhex_lower(self.str())
    }

    pub fn bytes32(&self) -> [u8; 32] {
        self.bytes().try_into().expect("32 bytes")
    }
}

fn unhex_lower(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd-length hex");
    let nibble = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("not lowercase hex: {text:?}"),
    };
    text.as_bytes().chunks(2).map(|pair| nibble(pair[0]) << 4 | nibble(pair[1])).collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ------------------------------------------------------------------ scripted RNG

/// Hands out the transcript's 32-byte draws in order; anything else panics.
pub struct ScriptedRng {
    name: &'static str,
    draws: Vec<[u8; 32]>,
    used: Arc<AtomicUsize>,
}

impl rand_core::TryRng for ScriptedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("{}: the RNG was asked for a u32, not a 32-byte draw", self.name)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("{}: the RNG was asked for a u64, not a 32-byte draw", self.name)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert_eq!(
            dst.len(),
            32,
            "{}: the RNG was asked for {} bytes, not 32",
            self.name,
            dst.len()
        );
        let index = self.used.fetch_add(1, Ordering::SeqCst);
        let draw = self.draws.get(index).unwrap_or_else(|| {
            panic!(
                "{}: the RNG was asked for draw #{index}, the transcript has {}",
                self.name,
                self.draws.len()
            )
        });
        dst.copy_from_slice(draw);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for ScriptedRng {}

pub fn scripted(name: &'static str, draws: &Json) -> (ScriptedRng, Arc<AtomicUsize>) {
    let used = Arc::new(AtomicUsize::new(0));
    let rng = ScriptedRng {
        name,
        draws: draws.array().iter().map(Json::bytes32).collect(),
        used: Arc::clone(&used),
    };
    (rng, used)
}

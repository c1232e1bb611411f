//! Small conversions between JS values and Rust.

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::SottoError;

/// Sets `object[key] = value`.
pub(crate) fn set(object: &JsValue, key: &str, value: &JsValue) {
    // Every object this crate sets properties on is one it just made (a
    // plain object or an Error), which has no setters and is not frozen:
    // `Reflect.set` cannot fail on it.
    let _ = Reflect::set(object, &JsValue::from_str(key), value);
}

/// A new plain object with `entries`.
pub(crate) fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let object: JsValue = Object::new().into();
    for (key, value) in entries {
        set(&object, key, value);
    }
    object
}

/// A new `Uint8Array` holding a copy of `bytes` (never a view into the
/// module's memory, which a later call could overwrite).
pub(crate) fn bytes(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

/// `object[key]`, refusing anything that throws.
fn get(object: &JsValue, key: &str, what: &str) -> Result<JsValue, SottoError> {
    if !object.is_object() {
        return Err(SottoError::invalid_argument(format!("{what} must be an object")));
    }
    Reflect::get(object, &JsValue::from_str(key))
        .map_err(|_| SottoError::invalid_argument(format!("{what}.{key} cannot be read")))
}

/// `object[key]` as a string.
pub(crate) fn get_string(object: &JsValue, key: &str, what: &str) -> Result<String, SottoError> {
    get(object, key, what)?
        .as_string()
        .ok_or_else(|| SottoError::invalid_argument(format!("{what}.{key} must be a string")))
}

/// `value` as a `u32`: an integer number from 0 to 2^32 - 1.
pub(crate) fn to_u32(value: &JsValue, what: &str) -> Result<u32, SottoError> {
    value
        .as_f64()
        .filter(|number| number.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(number))
        // In range and integral: the conversion is exact.
        .map(|number| number as u32)
        .ok_or_else(|| {
            SottoError::invalid_argument(format!("{what} must be an integer from 0 to 2^32 - 1"))
        })
}

/// `object[key]` as a `u32`.
pub(crate) fn get_u32(object: &JsValue, key: &str, what: &str) -> Result<u32, SottoError> {
    to_u32(&get(object, key, what)?, &format!("{what}.{key}"))
}

/// `object[key]` as bytes: a `Uint8Array`.
pub(crate) fn get_bytes(object: &JsValue, key: &str, what: &str) -> Result<Vec<u8>, SottoError> {
    get(object, key, what)?
        .dyn_into::<Uint8Array>()
        .map(|array| array.to_vec())
        .map_err(|_| SottoError::invalid_argument(format!("{what}.{key} must be a Uint8Array")))
}

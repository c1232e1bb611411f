//! Durability: every exported method that writes the store returns a
//! `Promise` that resolves only once the writes it made are durable.
//!
//! The core calls its store synchronously and hands out a result (an
//! envelope, say) once `commit` returned. A JS store over IndexedDB applies
//! a write to its in-memory state at once, but the write reaches the disk
//! later; an envelope handed out in between would, after the tab closed,
//! have its message key reused by the next encryption from the reloaded
//! state. So a JS store's write methods may return a `Promise` that
//! resolves when the write is on disk; [`run`] collects every such promise
//! during one synchronous core call, and [`settle`] returns a promise of
//! the call's result that waits for all of them first. A write that fails
//! to persist makes the result `STORE` (the app reloads from disk).
//!
//! Reads stay synchronous, and each core call runs to its end before any
//! promise settles: two overlapping calls never interleave one session's
//! load and commit.

use std::cell::RefCell;

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::error::{ErrorCode, SottoError};

thread_local! {
    /// One list of write promises per [`run`] in progress, innermost last
    /// (a JS store may call back into Sotto while it writes). The first
    /// list keeps writes made outside any `run`: none today, since every
    /// method that can write goes through `run`, but should one appear,
    /// its promise is awaited by the next [`settle`] rather than dropped.
    static WRITES: RefCell<Vec<Vec<Promise>>> = RefCell::new(vec![Vec::new()]);
}

/// Runs `call` (one synchronous core call) and returns its outcome with
/// the promises of the store writes it made.
pub(crate) fn run<T>(call: impl FnOnce() -> T) -> (T, Vec<Promise>) {
    let depth = with_writes(|frames| {
        frames.push(Vec::new());
        frames.len()
    });
    let outcome = call();
    let writes = with_writes(|frames| {
        // Frames above ours were popped by their own `run`s already.
        frames.truncate(depth.unwrap_or(0).max(1));
        let mut writes =
            if frames.len() > 1 { frames.pop().unwrap_or_default() } else { Vec::new() };
        // Writes made outside any `run` are awaited by the next one.
        if let Some(stray) = frames.first_mut() {
            writes.append(stray);
        }
        writes
    });
    (outcome, writes.unwrap_or_default())
}

fn with_writes<T>(f: impl FnOnce(&mut Vec<Vec<Promise>>) -> T) -> Option<T> {
    // Borrowed only inside this module, never while JS runs.
    WRITES.try_with(|writes| writes.try_borrow_mut().ok().map(|mut writes| f(&mut writes))).ok()?
}

/// Records what a JS store's write method returned: a `Promise` (or any
/// thenable) is awaited before the current call resolves; `undefined`, or
/// anything else, means the write needs no waiting.
pub(crate) fn record(returned: JsValue) {
    let promise = match returned.dyn_into::<Promise>() {
        Ok(promise) => promise,
        Err(other) if is_thenable(&other) => Promise::resolve(&other),
        Err(_) => return,
    };
    with_writes(|frames| {
        if let Some(current) = frames.last_mut() {
            current.push(promise);
        }
    });
}

fn is_thenable(value: &JsValue) -> bool {
    value.is_object()
        && Reflect::get(value, &JsValue::from_str("then"))
            .is_ok_and(|then| then.is_instance_of::<Function>())
}

/// A promise that settles as `outcome` once every promise of `writes`
/// resolved; `STORE`, with the rejection as `cause`, if one rejected after
/// a successful call. The outcome's error, if any, is already a JS value:
/// it was made while the call's context (what a JS store threw) was at
/// hand.
pub(crate) fn settle(outcome: Result<JsValue, JsValue>, writes: Vec<Promise>) -> Promise {
    future_to_promise(async move {
        let durable = if writes.is_empty() {
            Ok(JsValue::UNDEFINED)
        } else {
            JsFuture::from(Promise::all(&writes.into_iter().collect::<Array>())).await
        };
        let value = outcome?;
        durable.map_err(not_durable)?;
        Ok(value)
    })
}

/// Runs `call` and settles its result once its writes are durable.
pub(crate) fn durably<T: Resolved>(call: impl FnOnce() -> Result<T, SottoError>) -> Promise {
    let (outcome, writes) = run(call);
    settle(outcome.map(Resolved::into_js).map_err(JsValue::from), writes)
}

/// What a durable call's `Promise` resolves with.
pub(crate) trait Resolved {
    /// The value as JavaScript sees it.
    fn into_js(self) -> JsValue;
}

impl Resolved for () {
    fn into_js(self) -> JsValue {
        JsValue::UNDEFINED
    }
}

impl Resolved for JsValue {
    fn into_js(self) -> JsValue {
        self
    }
}

impl Resolved for Array {
    fn into_js(self) -> JsValue {
        self.into()
    }
}

/// The error of a call whose writes the store did not persist.
fn not_durable(reason: JsValue) -> JsValue {
    let error = JsValue::from(SottoError::new(
        ErrorCode::Store,
        "the store failed to persist a write (its Promise rejected): stop using this manager \
         and reload the store",
    ));
    crate::js::set(&error, "cause", &reason);
    error
}

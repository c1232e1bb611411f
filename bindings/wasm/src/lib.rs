//! `sotto-wasm`: Sotto for JavaScript and TypeScript, through wasm-bindgen.
//!
//! A thin layer: each exported class wraps a core type and each method
//! converts its arguments and forwards to the core. Every new session is
//! post-quantum (PQXDH with ML-KEM-1024) unless the app opts in to classical
//! ones ([`SessionManager::with_classical_sessions`]). Bytes cross as
//! `Uint8Array` (always copies, never views into the module's memory);
//! addresses and public prekeys as plain objects; every failure is a JS
//! `Error` with a stable `code` (`src/declarations.d.ts` lists the codes),
//! thrown, or the rejection of the `Promise` that every method that writes
//! the store returns, which resolves once those writes are durable
//! (`durable`). An app implements the `ProtocolStore` interface in JS to
//! keep Sotto's state in IndexedDB, or takes the SDK's [`InMemoryStore`].
//!
//! `bindings/wasm/build.sh` builds the npm package; `bindings/wasm/README.md`
//! documents the JS API.

mod batch;
mod call;
mod durable;
mod error;
mod js;
mod media;
mod session;
mod store;
mod types;
mod verify;

use wasm_bindgen::prelude::*;

pub use batch::DecryptBatch;
pub use call::{CallOffer, OneToOneCall, OutgoingCall};
pub use error::{JsResult, SottoError};
pub use media::{CipherSuite, SframeReceiver, SframeSender};
pub use session::{DecryptedMessage, SessionManager};
pub use store::{
    InMemoryStore, JsProtocolStore, check_store_conformance, session_record_generation,
};
pub use types::{IdentityKeyPair, PreKeyBundle, is_post_quantum};
pub use verify::SafetyNumber;

/// The TypeScript declarations of the plain objects, the error codes and
/// the store interface (`src/declarations.d.ts`), added to the generated
/// `.d.ts`.
#[wasm_bindgen(typescript_custom_section)]
const TYPESCRIPT: &str = include_str!("declarations.d.ts");

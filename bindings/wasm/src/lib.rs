//! `sotto-wasm`: Sotto for JavaScript and TypeScript, through wasm-bindgen.
//!
//! A thin layer: each exported class wraps a core type and each method
//! converts its arguments and forwards to the core. Bytes cross as
//! `Uint8Array` (always copies, never views into the module's memory);
//! addresses and public prekeys as plain objects; every failure is a thrown
//! JS `Error` with a stable `code` (`src/declarations.d.ts` lists the codes). An app
//! implements the `ProtocolStore` interface in JS to keep Sotto's state in
//! IndexedDB, or takes the SDK's [`InMemoryStore`].
//!
//! `bindings/wasm/build.sh` builds the npm package; `bindings/wasm/README.md`
//! documents the JS API.

mod call;
mod error;
mod js;
mod session;
mod store;
mod types;
mod verify;

use wasm_bindgen::prelude::*;

pub use call::{CipherSuite, OneToOneCallKeys, SframeReceiver, SframeSender};
pub use error::{JsResult, SottoError};
pub use session::{DecryptedMessage, SessionManager};
pub use store::{InMemoryStore, JsProtocolStore};
pub use types::{IdentityKeyPair, PreKeyBundle};
pub use verify::SafetyNumber;

/// The TypeScript declarations of the plain objects, the error codes and
/// the store interface (`src/declarations.d.ts`), added to the generated
/// `.d.ts`.
#[wasm_bindgen(typescript_custom_section)]
const TYPESCRIPT: &str = include_str!("declarations.d.ts");

//! unidb: one fast shared core for two databases.
//!
//! This facade only re-exports the member crates. The `unidb` command's
//! code is the [`cli`] crate's (`unidb-cli`); the `unidb` binary calls
//! [`cli::main`].
//!
//! ```
//! use unidb::kernels::Kernels;
//! let k = Kernels::active();
//! assert_eq!(k.dot_f32(&[1.0, 2.0], &[3.0, 4.0]).unwrap(), 11.0);
//! ```

pub use unidb_cli as cli;
pub use unidb_codec as codec;
pub use unidb_common as common;
pub use unidb_kernels as kernels;
pub use unidb_registry as registry;
pub use unidb_server as server;
pub use unidb_syncdb as syncdb;
pub use unidb_vectordb as vectordb;

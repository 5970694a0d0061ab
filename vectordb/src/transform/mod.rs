//! Transforms applied to vectors before they are indexed: L2
//! normalization (`l2norm`), centering (`center`), PCA (`pca`, optionally
//! whitened, keeping `dim_out` components), a random orthogonal rotation
//! (`rotation`) and a Johnson–Lindenstrauss random projection
//! (`projection`).
//!
//! Each is a plugin of the `transform` kind ([`TransformPlugin`](crate::TransformPlugin)): fitted
//! by name on a sample with its parameters, applied to batches of rows
//! (the linear ones one dot-product kernel call per row, batches split
//! over threads), and encoded to bytes from which the plugin of its name
//! rebuilds it. A [`TransformChain`](crate::TransformChain) applies several in order and encodes
//! them together (magic, version, CRC-32). Programs register their own
//! with [`register_transform!`](crate::register_transform).
//!
//! PCA and the rotation decompose matrices with `faer` (the `linalg`
//! feature, off by default because it doubles the crate's build time);
//! without it, fitting them is
//! [`TransformError::Unsupported`](crate::TransformError::Unsupported),
//! while decoding and applying fitted ones still work.
//!
//! ```
//! use unidb_vectordb::transform::{Pca, PcaConfig};
//! use unidb_vectordb::Transform;
//! # fn main() -> Result<(), unidb_vectordb::TransformError> {
//! // Points on the line y = 2x: one component keeps all the variance.
//! let sample = [0.0, 0.0, 1.0, 2.0, 2.0, 4.0, 3.0, 6.0];
//! let config = PcaConfig { dim_out: Some(1), ..PcaConfig::default() };
//! # let pca = match Pca::fit(&sample, 2, &config) {
//! #     // Built without the `linalg` feature.
//! #     Err(unidb_vectordb::TransformError::Unsupported { .. }) => return Ok(()),
//! #     other => other?,
//! # };
//! # /*
//! let pca = Pca::fit(&sample, 2, &config)?;
//! # */
//! assert!((pca.explained_variance_ratio()[0] - 1.0).abs() < 1e-9);
//! let y = pca.apply(&[4.0, 8.0])?;
//! let back = pca.inverse(&y)?;
//! assert!((back[0] - 4.0).abs() < 1e-4 && (back[1] - 8.0).abs() < 1e-4);
//! # Ok(()) }
//! ```

mod center;
pub(crate) mod error;
pub(crate) mod kind;
mod linear;
mod normalize;
mod pca;
mod random;

pub use center::Center;
pub use normalize::L2Normalize;
pub use pca::{Pca, PcaConfig};
pub use random::{Projection, ProjectionConfig, Rotation, RotationConfig};

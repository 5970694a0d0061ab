//! Instruction-set paths and CPU feature detection.

use std::fmt;
use std::str::FromStr;

use crate::KernelError;

/// The name of the environment variable that forces a kernel path.
pub const ISA_ENV_VAR: &str = "UNIDB_ISA";

/// One implementation path of the kernels.
///
/// Every path computes the same functions; [`Isa::Scalar`] is the reference
/// the others are tested against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust, no explicit SIMD. The reference implementation.
    Scalar,
    /// Built on the `wide` crate: whatever SIMD the compile target guarantees
    /// (SSE2 on x86-64, NEON on aarch64).
    Portable,
    /// x86-64 with AVX2, FMA, F16C and POPCNT, through `std::arch` intrinsics.
    Avx2,
    /// x86-64 with AVX-512 (F, BW, DQ, VL, VPOPCNTDQ, VNNI) on top of everything
    /// [`Isa::Avx2`] needs, through `std::arch` intrinsics. Kernels without
    /// an AVX-512 version run their AVX2 code.
    Avx512,
    /// aarch64 Advanced SIMD (NEON), through `std::arch` intrinsics.
    Neon,
}

impl Isa {
    /// Every path this crate knows, in declaration order.
    pub const ALL: [Isa; 5] = [
        Isa::Scalar,
        Isa::Portable,
        Isa::Avx2,
        Isa::Avx512,
        Isa::Neon,
    ];

    /// The lowercase name used by `Display`, `FromStr` and `UNIDB_ISA`.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Whether this CPU (and this build) can run the path.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar | Isa::Portable => true,
            Isa::Avx2 => avx2_detected(),
            Isa::Avx512 => avx512_detected(),
            Isa::Neon => neon_detected(),
        }
    }

    /// The paths available on this CPU, best first.
    ///
    /// ```
    /// use unidb_kernels::Isa;
    /// let paths = Isa::available();
    /// assert_eq!(paths.last(), Some(&Isa::Scalar));
    /// ```
    pub fn available() -> Vec<Isa> {
        [
            Isa::Avx512,
            Isa::Avx2,
            Isa::Neon,
            Isa::Portable,
            Isa::Scalar,
        ]
        .into_iter()
        .filter(|isa| isa.is_available())
        .collect()
    }

    /// The best path available on this CPU, ignoring `UNIDB_ISA`.
    pub fn best() -> Isa {
        Isa::available()[0]
    }

    /// Reads `UNIDB_ISA`.
    ///
    /// Returns `Ok(None)` when the variable is unset or empty.
    ///
    /// # Errors
    /// [`KernelError::UnknownIsa`] when the value names no path, and
    /// [`KernelError::UnavailableIsa`] when the path exists but this CPU lacks it.
    pub fn from_env() -> Result<Option<Isa>, KernelError> {
        match std::env::var(ISA_ENV_VAR) {
            Ok(value) if value.trim().is_empty() => Ok(None),
            Ok(value) => Isa::parse_available(&value).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(raw)) => Err(KernelError::UnknownIsa {
                value: raw.to_string_lossy().into_owned(),
            }),
        }
    }

    /// Parses a path name and checks that this CPU can run it.
    ///
    /// # Errors
    /// As [`Isa::from_env`].
    pub fn parse_available(value: &str) -> Result<Isa, KernelError> {
        let isa: Isa = value.parse()?;
        if isa.is_available() {
            Ok(isa)
        } else {
            Err(KernelError::UnavailableIsa {
                isa,
                available: Isa::available(),
            })
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Isa {
    type Err = KernelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Isa::ALL
            .into_iter()
            .find(|isa| isa.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| KernelError::UnknownIsa {
                value: s.to_owned(),
            })
    }
}

/// CPU features relevant to the kernels, as detected at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuFeatures {
    /// The target architecture this binary was built for.
    pub arch: &'static str,
    /// `(feature name, detected)` pairs.
    pub features: Vec<(&'static str, bool)>,
}

/// Detects the CPU features the kernels care about.
pub fn cpu_features() -> CpuFeatures {
    #[cfg(target_arch = "x86_64")]
    {
        CpuFeatures {
            arch: "x86_64",
            features: vec![
                ("sse2", std::arch::is_x86_feature_detected!("sse2")),
                ("ssse3", std::arch::is_x86_feature_detected!("ssse3")),
                ("sse4.1", std::arch::is_x86_feature_detected!("sse4.1")),
                ("popcnt", std::arch::is_x86_feature_detected!("popcnt")),
                ("avx", std::arch::is_x86_feature_detected!("avx")),
                ("avx2", std::arch::is_x86_feature_detected!("avx2")),
                ("fma", std::arch::is_x86_feature_detected!("fma")),
                ("f16c", std::arch::is_x86_feature_detected!("f16c")),
                ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
                ("avx512bw", std::arch::is_x86_feature_detected!("avx512bw")),
                ("avx512dq", std::arch::is_x86_feature_detected!("avx512dq")),
                ("avx512vl", std::arch::is_x86_feature_detected!("avx512vl")),
                (
                    "avx512vpopcntdq",
                    std::arch::is_x86_feature_detected!("avx512vpopcntdq"),
                ),
                (
                    "avx512vnni",
                    std::arch::is_x86_feature_detected!("avx512vnni"),
                ),
            ],
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        CpuFeatures {
            arch: "aarch64",
            features: vec![
                ("neon", std::arch::is_aarch64_feature_detected!("neon")),
                ("fp16", std::arch::is_aarch64_feature_detected!("fp16")),
                (
                    "dotprod",
                    std::arch::is_aarch64_feature_detected!("dotprod"),
                ),
            ],
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        CpuFeatures {
            arch: std::env::consts::ARCH,
            features: Vec::new(),
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_detected() -> bool {
    // Miri cannot run `std::arch` intrinsics: report the path as absent so
    // Miri runs the scalar and portable paths only.
    !cfg!(miri)
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
        && std::arch::is_x86_feature_detected!("popcnt")
        && std::arch::is_x86_feature_detected!("ssse3")
        && std::arch::is_x86_feature_detected!("sse4.1")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_detected() -> bool {
    false
}

/// The AVX-512 path needs AVX-512 F, BW, DQ, VL, VPOPCNTDQ and VNNI for its own
/// kernels, and everything [`avx2_detected`] checks because its table reuses
/// AVX2 kernels (bit-packing, stream-vbyte) whose safety rests on those
/// features: requiring both keeps every entry of that table sound.
#[cfg(target_arch = "x86_64")]
fn avx512_detected() -> bool {
    avx2_detected()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512_detected() -> bool {
    false
}

#[cfg(target_arch = "aarch64")]
fn neon_detected() -> bool {
    !cfg!(miri) && std::arch::is_aarch64_feature_detected!("neon")
}

#[cfg(not(target_arch = "aarch64"))]
fn neon_detected() -> bool {
    false
}

#[cfg(test)]
mod tests;

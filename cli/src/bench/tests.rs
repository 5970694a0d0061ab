use super::*;

#[test]
fn errors_convert_with_their_kind_and_source_chain() {
    use unidb_common::ErrorKind;
    let isa = BenchError::from("nope".parse::<Isa>().unwrap_err());
    let e = unidb_common::Error::from(isa);
    assert_eq!(e.kind(), ErrorKind::Configuration);
    let inner = std::error::Error::source(&e)
        .and_then(|s| s.source())
        .unwrap();
    assert!(inner.downcast_ref::<KernelError>().is_some());
    let size = BenchError::Size("--dim 0".into());
    assert_eq!(
        unidb_common::Error::from(size).kind(),
        ErrorKind::Validation
    );
    let mismatch = BenchError::Mismatch {
        kernel: "dot".into(),
        size: "9".into(),
        isa: Isa::Scalar,
        detail: "1 vs 2".into(),
    };
    assert_eq!(
        unidb_common::Error::from(mismatch).kind(),
        ErrorKind::CorruptData
    );
}

#[test]
fn tiny_bench_runs_and_checks_every_path() {
    let args = KernelBenchArgs {
        isa: "all".to_owned(),
        dim: Some(9),
        budget_ms: 1,
        matrix_mib: 0,
        codec_values: 1000,
    };
    let report = bench_kernels(&args, false).unwrap();
    for isa in Isa::available() {
        assert!(report.contains(isa.name()), "{report}");
    }
    assert!(report.contains("dot_f32") && report.contains("vs scalar"));
    for row in [
        "svb_encode",
        "svb_delta_decode",
        "unpack_u32",
        "pack_u32",
        "pq4_fastscan",
        "rans16_decode",
    ] {
        assert!(report.contains(row), "{report}");
    }
}

#[test]
fn invalid_isa_is_an_error() {
    assert!(matches!(
        selected_isas("sse9"),
        Err(BenchError::Isa(KernelError::UnknownIsa { .. }))
    ));
    for isa in Isa::ALL {
        assert_eq!(selected_isas(isa.name()).is_ok(), isa.is_available());
    }
    for args in [
        KernelBenchArgs {
            dim: Some(0),
            ..KernelBenchArgs::default()
        },
        KernelBenchArgs {
            budget_ms: 0,
            ..KernelBenchArgs::default()
        },
        KernelBenchArgs {
            codec_values: 0,
            ..KernelBenchArgs::default()
        },
    ] {
        assert!(matches!(
            bench_kernels(&args, true),
            Err(BenchError::Size(_))
        ));
    }
}

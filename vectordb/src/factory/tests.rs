use super::*;
use crate::{Collection, SearchOptions};

fn pca(d_out: usize, whiten: bool, rotate: bool) -> Transform {
    Transform::Pca {
        d_out,
        whiten,
        rotate,
    }
}

fn spec(
    transforms: Vec<Transform>,
    index: IndexKind,
    encoding: Encoding,
    rerank: bool,
) -> FactorySpec {
    FactorySpec {
        transforms,
        index,
        encoding,
        rerank,
    }
}

/// Every form the grammar accepts, written as a FAISS user would, with
/// the spec it means (written out by hand) and its canonical string.
#[test]
fn accepted_forms_parse_to_their_spec_and_round_trip() {
    use Encoding as E;
    use IndexKind as I;
    let hnsw = |m| I::Hnsw { m };
    let ivf = |nlist| I::Ivf { nlist };
    let table: Vec<(&str, FactorySpec, &str)> = vec![
        ("Flat", spec(vec![], I::Flat, E::Flat, false), "Flat"),
        ("SQ8", spec(vec![], I::Flat, E::Sq8, false), "SQ8"),
        ("SQ4", spec(vec![], I::Flat, E::Sq4, false), "SQ4"),
        ("SQfp16", spec(vec![], I::Flat, E::SqFp16, false), "SQfp16"),
        (
            "PQ16",
            spec(vec![], I::Flat, E::Pq { m: 16, nbits: 8 }, false),
            "PQ16x8",
        ),
        (
            "PQ8x4",
            spec(vec![], I::Flat, E::Pq { m: 8, nbits: 4 }, false),
            "PQ8x4",
        ),
        (
            "PQ32x4fs",
            spec(vec![], I::Flat, E::PqFastScan { m: 32 }, false),
            "PQ32x4fs",
        ),
        ("RaBitQ", spec(vec![], I::Flat, E::RaBitQ, false), "RaBitQ"),
        (
            "RaBitQ,RFlat",
            spec(vec![], I::Flat, E::RaBitQ, true),
            "RaBitQ,RFlat",
        ),
        (
            "Flat,RFlat",
            spec(vec![], I::Flat, E::Flat, true),
            "Flat,RFlat",
        ),
        // HNSW: M defaults to 32, no encoding means Flat, `_` is the old separator.
        (
            "HNSW",
            spec(vec![], hnsw(32), E::Flat, false),
            "HNSW32,Flat",
        ),
        (
            "HNSW32",
            spec(vec![], hnsw(32), E::Flat, false),
            "HNSW32,Flat",
        ),
        (
            "HNSW16,Flat",
            spec(vec![], hnsw(16), E::Flat, false),
            "HNSW16,Flat",
        ),
        (
            "HNSW32,SQ8",
            spec(vec![], hnsw(32), E::Sq8, false),
            "HNSW32,SQ8",
        ),
        (
            "HNSW32_SQ8",
            spec(vec![], hnsw(32), E::Sq8, false),
            "HNSW32,SQ8",
        ),
        (
            "HNSW_Flat",
            spec(vec![], hnsw(32), E::Flat, false),
            "HNSW32,Flat",
        ),
        (
            "HNSW8,SQfp16",
            spec(vec![], hnsw(8), E::SqFp16, false),
            "HNSW8,SQfp16",
        ),
        (
            "HNSW32,PQ16",
            spec(vec![], hnsw(32), E::Pq { m: 16, nbits: 8 }, false),
            "HNSW32,PQ16x8",
        ),
        (
            "HNSW32,PQ16x4",
            spec(vec![], hnsw(32), E::Pq { m: 16, nbits: 4 }, false),
            "HNSW32,PQ16x4",
        ),
        (
            "HNSW32,RFlat",
            spec(vec![], hnsw(32), E::Flat, true),
            "HNSW32,Flat,RFlat",
        ),
        (
            "HNSW32,SQ8,RFlat",
            spec(vec![], hnsw(32), E::Sq8, true),
            "HNSW32,SQ8,RFlat",
        ),
        // IVF: list counts with k and M, every encoding.
        (
            "IVF256,Flat",
            spec(vec![], ivf(256), E::Flat, false),
            "IVF256,Flat",
        ),
        (
            "IVF4k,Flat",
            spec(vec![], ivf(4096), E::Flat, false),
            "IVF4096,Flat",
        ),
        (
            "IVF1M,SQ8",
            spec(vec![], ivf(1 << 20), E::Sq8, false),
            "IVF1048576,SQ8",
        ),
        (
            "IVF0064,SQ4",
            spec(vec![], ivf(64), E::Sq4, false),
            "IVF64,SQ4",
        ),
        (
            "IVF256,PQ16",
            spec(vec![], ivf(256), E::Pq { m: 16, nbits: 8 }, false),
            "IVF256,PQ16x8",
        ),
        (
            "IVF256,PQ16x4fs",
            spec(vec![], ivf(256), E::PqFastScan { m: 16 }, false),
            "IVF256,PQ16x4fs",
        ),
        (
            "IVF256,PQ16x4fs,RFlat",
            spec(vec![], ivf(256), E::PqFastScan { m: 16 }, true),
            "IVF256,PQ16x4fs,RFlat",
        ),
        (
            "IVF1024,RaBitQ",
            spec(vec![], ivf(1024), E::RaBitQ, false),
            "IVF1024,RaBitQ",
        ),
        (
            "IVF1024,RaBitQ,RFlat",
            spec(vec![], ivf(1024), E::RaBitQ, true),
            "IVF1024,RaBitQ,RFlat",
        ),
        // Transforms: FAISS's PCA spelling puts W and R before the dimension.
        (
            "PCA64,Flat",
            spec(vec![pca(64, false, false)], I::Flat, E::Flat, false),
            "PCA64,Flat",
        ),
        (
            "PCAR64,IVF256,Flat",
            spec(vec![pca(64, false, true)], ivf(256), E::Flat, false),
            "PCAR64,IVF256,Flat",
        ),
        (
            "PCAW32,HNSW16",
            spec(vec![pca(32, true, false)], hnsw(16), E::Flat, false),
            "PCAW32,HNSW16,Flat",
        ),
        (
            "PCAWR32,SQ8",
            spec(vec![pca(32, true, true)], I::Flat, E::Sq8, false),
            "PCAWR32,SQ8",
        ),
        (
            "OPQ16_64,IVF256,PQ16x4fs,RFlat",
            spec(
                vec![Transform::Opq {
                    m: 16,
                    d_out: Some(64),
                }],
                ivf(256),
                E::PqFastScan { m: 16 },
                true,
            ),
            "OPQ16_64,IVF256,PQ16x4fs,RFlat",
        ),
        (
            "OPQ16,PQ16",
            spec(
                vec![Transform::Opq { m: 16, d_out: None }],
                I::Flat,
                E::Pq { m: 16, nbits: 8 },
                false,
            ),
            "OPQ16,PQ16x8",
        ),
        (
            "PCA96,OPQ8_64,HNSW32,PQ8",
            spec(
                vec![
                    pca(96, false, false),
                    Transform::Opq {
                        m: 8,
                        d_out: Some(64),
                    },
                ],
                hnsw(32),
                E::Pq { m: 8, nbits: 8 },
                false,
            ),
            "PCA96,OPQ8_64,HNSW32,PQ8x8",
        ),
        // The largest number FAISS's int holds.
        (
            "IVF2147483647,Flat",
            spec(vec![], ivf(MAX_NUMBER), E::Flat, false),
            "IVF2147483647,Flat",
        ),
        (
            "PQ4x16",
            spec(vec![], I::Flat, E::Pq { m: 4, nbits: 16 }, false),
            "PQ4x16",
        ),
    ];
    for (input, want, canonical) in table {
        let got: FactorySpec = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(got, want, "{input}");
        assert_eq!(got.to_string(), canonical, "{input}");
        let again: FactorySpec = canonical.parse().unwrap();
        assert_eq!(again, want, "{input} -> {canonical}");
        assert_eq!(again.to_string(), canonical);
    }
}

/// Every combination of the parts (two transforms deep) is written and
/// parsed back; the combinations FAISS refuses (HNSW over the fast-scan
/// layout or RaBitQ) are refused, naming the encoding.
#[test]
fn every_combination_round_trips_or_is_refused_as_faiss_does() {
    let transforms = [
        pca(48, false, false),
        pca(48, true, false),
        pca(48, false, true),
        pca(48, true, true),
        Transform::Opq { m: 8, d_out: None },
        Transform::Opq {
            m: 8,
            d_out: Some(32),
        },
    ];
    let mut chains: Vec<Vec<Transform>> = vec![vec![]];
    for a in transforms {
        chains.push(vec![a]);
        for b in transforms {
            chains.push(vec![a, b]);
        }
    }
    let indexes = [
        IndexKind::Flat,
        IndexKind::Hnsw { m: 1 },
        IndexKind::Hnsw { m: 48 },
        IndexKind::Ivf { nlist: 1 },
        IndexKind::Ivf { nlist: 65536 },
    ];
    let encodings = [
        Encoding::Flat,
        Encoding::Sq8,
        Encoding::Sq4,
        Encoding::SqFp16,
        Encoding::Pq { m: 8, nbits: 8 },
        Encoding::Pq { m: 1, nbits: 1 },
        Encoding::Pq { m: 16, nbits: 16 },
        Encoding::PqFastScan { m: 8 },
        Encoding::RaBitQ,
    ];
    let (mut accepted, mut refused) = (0, 0);
    for chain in &chains {
        for index in indexes {
            for encoding in encodings {
                for rerank in [false, true] {
                    let s = spec(chain.clone(), index, encoding, rerank);
                    let text = s.to_string();
                    let hnsw_refuses = matches!(index, IndexKind::Hnsw { .. })
                        && matches!(encoding, Encoding::PqFastScan { .. } | Encoding::RaBitQ);
                    match text.parse::<FactorySpec>() {
                        Ok(back) => {
                            assert!(!hnsw_refuses, "{text} should be refused");
                            assert_eq!(back, s, "{text}");
                            assert_eq!(back.to_string(), text);
                            accepted += 1;
                        }
                        Err(FactoryError::Syntax { token, .. }) if hnsw_refuses => {
                            assert_eq!(token, encoding.to_string(), "{text}");
                            refused += 1;
                        }
                        Err(e) => panic!("{text}: {e}"),
                    }
                }
            }
        }
    }
    assert_eq!(
        accepted + refused,
        chains.len() * indexes.len() * encodings.len() * 2
    );
    assert!(refused > 0 && accepted > refused);
}

/// Malformed strings: the error kind, the offending token and its byte
/// position.
#[test]
fn malformed_forms_name_the_token_and_position() {
    #[derive(Debug, PartialEq)]
    enum K {
        Syntax,
        Number,
    }
    let table: &[(&str, K, &str, usize)] = &[
        ("", K::Syntax, "", 0),
        ("Flat,", K::Syntax, "", 5),
        (",Flat", K::Syntax, "", 0),
        ("IVF256,,Flat", K::Syntax, "", 7),
        ("flat", K::Syntax, "flat", 0),
        ("Flat ", K::Syntax, "Flat ", 0),
        ("LSH", K::Syntax, "LSH", 0),
        ("RFlat", K::Syntax, "RFlat", 0),
        ("RFlat,Flat", K::Syntax, "RFlat", 0),
        ("HNSW32,RFlat,SQ8", K::Syntax, "RFlat", 7),
        ("IVF256", K::Syntax, "", 6),
        ("IVF256,RFlat", K::Syntax, "", 12),
        ("IVF,Flat", K::Syntax, "IVF", 0),
        ("IVF256x,Flat", K::Syntax, "IVF256x", 0),
        ("IVF256_HNSW32,Flat", K::Syntax, "IVF256_HNSW32", 0),
        ("IMI2x8,PQ8", K::Syntax, "IMI2x8", 0),
        ("IVF256,Foo", K::Syntax, "Foo", 7),
        ("IVF256,Flat,SQ8", K::Syntax, "SQ8", 12),
        ("IVF256,PQ16np", K::Syntax, "PQ16np", 7),
        ("IVF256,PQ16x4fsr", K::Syntax, "PQ16x4fsr", 7),
        ("IVF256,PQx8", K::Syntax, "PQx8", 7),
        ("IVF256,PQ16x", K::Syntax, "PQ16x", 7),
        ("IVF256,SQ6", K::Syntax, "SQ6", 7),
        ("IVF256,RaBitQfs", K::Syntax, "RaBitQfs", 7),
        ("HNSW32,PQ16x4fs", K::Syntax, "PQ16x4fs", 7),
        ("HNSW32,RaBitQ", K::Syntax, "RaBitQ", 7),
        ("HNSW32_RaBitQ", K::Syntax, "RaBitQ", 7),
        ("HNSW32,IVF64", K::Syntax, "IVF64", 7),
        ("HNSWx,Flat", K::Syntax, "HNSWx", 0),
        ("HNSW-1", K::Syntax, "HNSW-1", 0),
        ("Flat,SQ8", K::Syntax, "SQ8", 5),
        ("SQ8,Flat", K::Syntax, "Flat", 4),
        ("PCA64", K::Syntax, "PCA64", 0),
        ("PCA64R,Flat", K::Syntax, "PCA64R", 0),
        ("PCARW64,Flat", K::Syntax, "PCARW64", 0),
        ("PCA,Flat", K::Syntax, "PCA", 0),
        ("OPQ,PQ8", K::Syntax, "OPQ", 0),
        ("OPQ16_,PQ16", K::Syntax, "OPQ16_", 0),
        ("OPQ16_64_2,PQ16", K::Syntax, "OPQ16_64_2", 0),
        ("PCA64,OPQ16", K::Syntax, "OPQ16", 6),
        ("Flat,PCA64", K::Syntax, "PCA64", 5),
        ("IVF256,Flat,RFlat,RFlat", K::Syntax, "RFlat", 12),
        ("IVF256，Flat", K::Syntax, "IVF256，Flat", 0),
        ("HNSW0", K::Number, "HNSW0", 0),
        ("IVF0,Flat", K::Number, "IVF0", 0),
        ("IVF0k,Flat", K::Number, "IVF0k", 0),
        ("IVF2147483648,Flat", K::Number, "IVF2147483648", 0),
        (
            "IVF99999999999999999999999,Flat",
            K::Number,
            "IVF99999999999999999999999",
            0,
        ),
        ("IVF4096M,Flat", K::Number, "IVF4096M", 0),
        ("IVF16,PQ0", K::Number, "PQ0", 6),
        ("IVF16,PQ8x0", K::Number, "PQ8x0", 6),
        ("IVF16,PQ8x17", K::Number, "PQ8x17", 6),
        ("PQ0x4fs", K::Number, "PQ0x4fs", 0),
        ("PCA0,Flat", K::Number, "PCA0", 0),
        ("OPQ0,PQ8", K::Number, "OPQ0", 0),
        ("OPQ8_0,PQ8", K::Number, "OPQ8_0", 0),
    ];
    for &(input, ref kind, want_token, want_position) in table {
        let err = input.parse::<FactorySpec>().expect_err(input);
        let (k, token, position) = match &err {
            FactoryError::Syntax {
                token,
                position,
                input: i,
                ..
            } => {
                assert_eq!(i, input);
                (K::Syntax, token.clone(), *position)
            }
            FactoryError::Number {
                token,
                position,
                input: i,
                ..
            } => {
                assert_eq!(i, input);
                (K::Number, token.clone(), *position)
            }
            other => panic!("{input}: unexpected {other:?}"),
        };
        assert_eq!(
            (&k, token.as_str(), position),
            (kind, want_token, want_position),
            "{input}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains(&format!("{want_token:?}")), "{text}");
        assert!(
            text.contains(&format!("position {want_position}")),
            "{text}"
        );
        assert!(text.contains(FORMS), "{text}");
        assert_eq!(err.kind(), unidb_common::ErrorKind::Configuration);
    }
}

#[test]
fn validate_follows_the_dimension_through_the_transforms() {
    let ok: &[(&str, usize, usize)] = &[
        ("Flat", 1, 1),
        ("IVF256,PQ16", 128, 128),
        ("PQ16x4fs", 64, 64),
        ("PCA64,Flat", 128, 64),
        ("PCA128,Flat", 128, 128),
        ("OPQ16,PQ16", 96, 96),
        ("OPQ16_64,IVF256,PQ16x4fs,RFlat", 100, 64),
        ("PCA96,OPQ8_64,HNSW32,PQ8", 128, 64),
        ("RaBitQ", 7, 7),
    ];
    for &(s, dim, out) in ok {
        let spec: FactorySpec = s.parse().unwrap();
        assert_eq!(spec.validate(dim).unwrap(), out, "{s} on {dim}");
    }
    let bad: &[(&str, usize, &str)] = &[
        ("Flat", 0, "dimension"),
        ("IVF256,PQ16", 100, "PQ16x8"),
        ("PQ16x4fs", 40, "PQ16x4fs"),
        ("PCA64,Flat", 32, "PCA64"),
        ("OPQ16,PQ16", 100, "OPQ16"),
        ("OPQ16_60,PQ16", 128, "OPQ16_60"),
        ("OPQ16_64,PQ24", 128, "PQ24x8"),
        ("PCA96,PQ64", 128, "PQ64x8"),
    ];
    for &(s, dim, part) in bad {
        let spec: FactorySpec = s.parse().unwrap();
        match spec.validate(dim) {
            Err(FactoryError::Dimension {
                part: p, dim: d, ..
            }) => {
                assert_eq!((p.as_str(), d), (part, dim), "{s} on {dim}")
            }
            other => panic!("{s} on {dim}: {other:?}"),
        }
    }
}

#[test]
fn search_params_parse_round_trip_and_refuse_what_faiss_does_not_name() {
    let ok: &[(&str, SearchParams, &str)] = &[
        ("", SearchParams::default(), ""),
        (
            "nprobe=16",
            SearchParams {
                nprobe: Some(16),
                ..Default::default()
            },
            "nprobe=16",
        ),
        (
            "efSearch=64,nprobe=16",
            SearchParams {
                nprobe: Some(16),
                ef_search: Some(64),
                k_factor_rf: None,
            },
            "nprobe=16,efSearch=64",
        ),
        (
            "k_factor_rf=2.5,efSearch=1",
            SearchParams {
                nprobe: None,
                ef_search: Some(1),
                k_factor_rf: Some(2.5),
            },
            "efSearch=1,k_factor_rf=2.5",
        ),
    ];
    for (s, want, canonical) in ok {
        let got: SearchParams = s.parse().unwrap();
        assert_eq!(&got, want, "{s}");
        assert_eq!(got.to_string(), *canonical);
        assert_eq!(canonical.parse::<SearchParams>().unwrap(), got);
    }
    let bad: &[(&str, &str, usize)] = &[
        ("nprobe", "nprobe", 0),
        ("nprobe=", "nprobe=", 0),
        ("nprobe=0", "nprobe=0", 0),
        ("nprobe=1.5", "nprobe=1.5", 0),
        ("nprobe=+3", "nprobe=+3", 0),
        ("nprobe=16,", "", 10),
        ("nprobe=2147483648", "nprobe=2147483648", 0),
        ("nprobe=16,nprobe=8", "nprobe=8", 10),
        ("nprobe=16,efsearch=64", "efsearch=64", 10),
        ("ef=64", "ef=64", 0),
        ("k_factor_rf=0.5", "k_factor_rf=0.5", 0),
        ("k_factor_rf=inf", "k_factor_rf=inf", 0),
        ("k_factor_rf=NaN", "k_factor_rf=NaN", 0),
    ];
    for &(s, token, position) in bad {
        match s.parse::<SearchParams>() {
            Err(e @ FactoryError::SearchParam { .. }) => {
                let FactoryError::SearchParam {
                    token: t,
                    position: p,
                    ..
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!((t.as_str(), *p), (token, position), "{s}");
                assert!(e.to_string().contains(SEARCH_PARAMS));
            }
            other => panic!("{s}: {other:?}"),
        }
    }
}

#[test]
fn search_params_map_onto_the_index_or_are_refused() {
    let p = |s: &str| s.parse::<SearchParams>().unwrap();
    let f = |s: &str| s.parse::<FactorySpec>().unwrap();
    assert_eq!(
        f("IVF64,SQ8").search(&p("nprobe=9")).unwrap(),
        IndexSearch::Ivf(IvfSearch { nprobe: Some(9) })
    );
    assert_eq!(
        f("HNSW32").search(&p("efSearch=77")).unwrap(),
        IndexSearch::Hnsw(HnswSearch { ef: Some(77) })
    );
    assert_eq!(
        f("HNSW32").search(&p("")).unwrap(),
        IndexSearch::Hnsw(HnswSearch { ef: None })
    );
    assert_eq!(f("Flat").search(&p("")).unwrap(), IndexSearch::Exact);
    for (spec, params, name) in [
        ("HNSW32", "nprobe=4", "nprobe"),
        ("Flat", "nprobe=4", "nprobe"),
        ("IVF64,Flat", "efSearch=4", "efSearch"),
        ("IVF64,Flat", "nprobe=4,k_factor_rf=2", "k_factor_rf"),
    ] {
        match f(spec).search(&p(params)) {
            Err(FactoryError::SearchParam { token, problem, .. }) => {
                assert!(token.starts_with(name), "{spec} {params}: {token}");
                assert!(problem.contains(name), "{problem}");
            }
            other => panic!("{spec} {params}: {other:?}"),
        }
    }
    // `k_factor_rf` belongs to the rerank stage: accepted with RFlat.
    assert_eq!(
        f("IVF64,PQ8,RFlat")
            .search(&p("nprobe=3,k_factor_rf=4"))
            .unwrap(),
        IndexSearch::Ivf(IvfSearch { nprobe: Some(3) })
    );
}

#[test]
fn unsupported_parts_are_named_and_nothing_is_built() {
    let linalg = cfg!(feature = "linalg");
    let opq_pca: &[&str] = if linalg {
        &["OPQ8_32"]
    } else {
        &["OPQ8_32", "PCA16 (needs the linalg feature)"]
    };
    let mut table: Vec<(&str, &[&str])> = vec![
        ("IVF64,RaBitQ,RFlat", &["RaBitQ"]),
        ("IVF64,PQ8x6", &["PQ8x6"]),
        ("RaBitQ", &["RaBitQ"]),
        ("OPQ8_32,PCA16,IVF64,SQ8", opq_pca),
    ];
    if !linalg {
        table.push(("PCAR16,HNSW32,SQ4", &["PCAR16 (needs the linalg feature)"]));
    }
    for &(s, parts) in &table {
        let spec: FactorySpec = s.parse().unwrap();
        assert_eq!(spec.unsupported_parts(), parts, "{s}");
        match Collection::from_factory(32, "l2", s) {
            Err(VectorError::Factory(e @ FactoryError::Unsupported { .. })) => {
                assert_eq!(e.kind(), unidb_common::ErrorKind::Unsupported);
                assert!(e.to_string().contains(&parts.join(", ")), "{e}");
            }
            other => panic!("{s}: {other:?}"),
        }
    }
    for s in [
        "Flat",
        "SQ8",
        "SQfp16",
        "HNSW8",
        "HNSW8,SQ8",
        "IVF4,SQfp16",
        "IVF64,PQ8",
        "IVF64,PQ8x4fs,RFlat",
        "HNSW32,Flat,RFlat",
    ] {
        assert!(
            s.parse::<FactorySpec>()
                .unwrap()
                .unsupported_parts()
                .is_empty(),
            "{s}"
        );
    }
    // A spec that does not fit is refused before anything is built.
    assert!(matches!(
        Collection::from_factory(30, "l2", "IVF64,PQ8"),
        Err(VectorError::Factory(FactoryError::Dimension { .. }))
    ));
    assert!(matches!(
        Collection::from_factory(8, "l2", "IVF64;Flat"),
        Err(VectorError::Factory(FactoryError::Syntax { .. }))
    ));
}

#[test]
fn bench_names_map_to_factory_strings() {
    let table = [
        ("flat", Storage::F32, "Flat"),
        ("flat", Storage::I8, "SQ8"),
        ("hnsw", Storage::F32, "HNSW12,Flat"),
        ("HNSW", Storage::F16, "HNSW12,SQfp16"),
        ("ivf", Storage::I8, "IVF34,SQ8"),
    ];
    for (index, storage, want) in table {
        let s = FactorySpec::of_index(index, storage, 12, 34).unwrap();
        assert_eq!(s.to_string(), want);
        let (config, _) = s.build(4, "l2").unwrap();
        assert_eq!(config.storage, storage);
    }
    assert_eq!(FactorySpec::of_index("lsh", Storage::F32, 12, 34), None);
}

/// Squared l2 distance, the brute-force reference.
fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Collections built from each supported string, searched with FAISS
/// search parameters, against brute force over the f32 vectors.
#[test]
fn built_collections_find_the_brute_force_neighbours() {
    let (n, nq, dim, k) = (2000, 50, 16, 10);
    let all = crate::data::clustered(n + nq, dim, 20, 0.15, 7);
    let (base, queries) = all.split_at(n * dim);
    let truth: Vec<Vec<usize>> = queries
        .chunks_exact(dim)
        .map(|q| {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| {
                l2sq(q, &base[a * dim..][..dim]).total_cmp(&l2sq(q, &base[b * dim..][..dim]))
            });
            order.truncate(k);
            order
        })
        .collect();
    let table: &[(&str, &str, f64, Storage, &str)] = &[
        ("Flat", "", 1.0, Storage::F32, "flat"),
        ("SQfp16", "", 0.98, Storage::F16, "flat"),
        ("SQ8", "", 0.9, Storage::I8, "flat"),
        ("HNSW16", "efSearch=64", 0.95, Storage::F32, "hnsw"),
        ("HNSW16,SQ8", "efSearch=64", 0.85, Storage::I8, "hnsw"),
        ("IVF16,Flat", "nprobe=16", 1.0, Storage::F32, "ivf"),
        ("IVF16,SQfp16", "nprobe=4", 0.8, Storage::F16, "ivf"),
        (
            "IVF16,PQ8,RFlat",
            "nprobe=8,k_factor_rf=8",
            0.9,
            Storage::Pq,
            "ivf",
        ),
        (
            "IVF16,PQ8x4fs,RFlat",
            "nprobe=8,k_factor_rf=16",
            0.9,
            Storage::Pq,
            "ivf",
        ),
        (
            "HNSW16,PQ4x8,RFlat",
            "efSearch=64,k_factor_rf=8",
            0.9,
            Storage::Pq,
            "hnsw",
        ),
        // Codes alone (no rerank) cannot separate near neighbours well.
        ("PQ8x4", "", 0.2, Storage::Pq, "flat"),
    ];
    for &(factory, params, min_recall, storage, plugin) in table {
        let mut c = Collection::from_factory(dim, "l2", factory).unwrap();
        assert_eq!(c.storage(), storage, "{factory}");
        assert_eq!(c.index_names(), [plugin], "{factory}");
        c.insert_rows(0..n as u64, base).unwrap();
        c.rebuild_index(plugin).unwrap();
        let params: SearchParams = params.parse().unwrap();
        let search = FactorySpec::parse(factory)
            .unwrap()
            .search(&params)
            .unwrap();
        let options = SearchOptions {
            params: search.params(),
            k_factor: params.k_factor_rf,
            ..SearchOptions::default()
        };
        let mut hit = 0;
        for (q, t) in queries.chunks_exact(dim).zip(&truth) {
            let found = c.search_with(q, k, &options).unwrap();
            assert_eq!(found.len(), k);
            hit += found
                .iter()
                .filter(|h| matches!(h.id, crate::Id::Num(i) if t.contains(&(i as usize))))
                .count();
        }
        let recall = hit as f64 / (nq * k) as f64;
        assert!(recall >= min_recall, "{factory} {params}: recall {recall}");
    }
}

#[test]
fn rebuild_index_retrains_ivf_and_names_unknown_indexes() {
    let dim = 4;
    let rows = crate::data::clustered(500, dim, 8, 0.1, 3);
    let mut c = Collection::from_factory(dim, "l2", "IVF8,Flat").unwrap();
    c.insert_rows(0..500u64, &rows).unwrap();
    // Before the rebuild every vector is pending (scanned exhaustively):
    // nprobe=1 is still exact. After it, the lists exist and nprobe=1
    // scans one list only, which loses some neighbours of some query.
    let one = IvfSearch { nprobe: Some(1) };
    let options = SearchOptions {
        params: Params::typed(&one),
        ..SearchOptions::default()
    };
    let exact_all = |c: &Collection| {
        rows.chunks_exact(dim).step_by(5).all(|q| {
            let ids = |hits: Vec<crate::Hit>| hits.into_iter().map(|h| h.id).collect::<Vec<_>>();
            ids(c.search_with(q, 20, &options).unwrap())
                == ids(c.search_exact(q, 20, None).unwrap())
        })
    };
    assert!(exact_all(&c));
    c.rebuild_index("ivf").unwrap();
    assert!(!exact_all(&c));
    assert!(matches!(
        c.rebuild_index("hnsw"),
        Err(VectorError::UnknownIndex { .. })
    ));
}

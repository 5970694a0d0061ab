use super::*;

#[test]
fn errors_convert_with_their_kind_and_source_chain() {
    use std::error::Error as _;
    use unidb_common::ErrorKind;
    let args = |file: &str, types: &[&str]| CompressArgs {
        file: PathBuf::from(file),
        columns: Vec::new(),
        types: types.iter().map(|t| t.to_string()).collect(),
        effort: "max".into(),
        delimiter: ",".into(),
    };
    let missing = std::env::temp_dir().join(format!(
        "unidb-compress-test-{}-missing.csv",
        std::process::id()
    ));
    let e: unidb_common::Error = run(&args(missing.to_str().unwrap(), &[]), false)
        .unwrap_err()
        .into();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let io = e.source().unwrap().source().unwrap();
    assert_eq!(
        io.downcast_ref::<std::io::Error>().unwrap().kind(),
        std::io::ErrorKind::NotFound
    );
    let usage = run(&args("x.csv", &["a"]), false).unwrap_err();
    assert_eq!(
        unidb_common::Error::from(usage).kind(),
        ErrorKind::Validation
    );
    let csv = compress_csv("a\n1,2\n", &Options::default()).unwrap_err();
    assert!(matches!(csv, CompressError::Csv { .. }), "{csv}");
    assert_eq!(
        unidb_common::Error::from(csv).kind(),
        ErrorKind::Serialization
    );
    let opts = Options {
        columns: vec!["nope".into()],
        ..Options::default()
    };
    let none = compress_csv("a\n1\n", &opts).unwrap_err();
    assert_eq!(unidb_common::Error::from(none).kind(), ErrorKind::NotFound);
    let codec = CompressError::Codec {
        column: "a".into(),
        source: CodecError::OutputTooLarge { limit: 1 },
    };
    let e = unidb_common::Error::from(codec);
    assert_eq!(e.kind(), ErrorKind::CorruptData);
    assert!(e
        .source()
        .unwrap()
        .source()
        .unwrap()
        .downcast_ref::<CodecError>()
        .is_some());
}

const CSV: &str = "id,at,price,temp,cat,note,done,count\r\n\
1,2024-05-01T10:00:00.120Z,9.99,20.5,ios,\"hello, world\",true,3\n\
2,2024-05-01 10:00:01.250,10.49,NaN,android,\"say \"\"hi\"\"\",false,4\n\
3,2024-05-01T12:00:02+02:00,N/A,20.75,ios,\"two\nlines\",true,\n\
4,2024-05-01T10:00:03.5,11.00,21,web,,nil,3\n";

#[test]
fn effort_names_parse_back() {
    for effort in [Effort::Fast, Effort::Max] {
        assert_eq!(effort_name(effort).parse::<Effort>().unwrap(), effort);
    }
}

#[test]
fn megabytes_of_commas_are_refused_or_reported() {
    // One record of 4 Mi empty fields: refused while reading.
    let commas = ",".repeat(4 << 20);
    let err = compress_csv(&commas, &Options::default()).unwrap_err();
    assert!(
        matches!(&err, CompressError::Csv { line: 1, reason } if reason.contains("fields")),
        "{err}"
    );
    // As wide as allowed: read.
    let widest = format!(
        "{}\n{}",
        ",".repeat(MAX_COLUMNS - 1),
        ",".repeat(MAX_COLUMNS - 1)
    );
    let table = read_csv(widest.as_bytes(), b',', &mut |_| {}).unwrap();
    assert_eq!(table.header.len(), MAX_COLUMNS);
    assert_eq!(table.rows(), 1);
    // Records of commas: two null columns, reported.
    let rows = format!("a,b\n{}", ",\n".repeat(1 << 20));
    let r = compress_csv(&rows, &Options::default()).unwrap();
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|c| c.rows == 1 << 20 && c.nulls == 1 << 20));
}

#[test]
fn identical_long_cells_round_trip() {
    // Compressed far beyond the decode budget: the encoder pads, the
    // round trip holds (it used to fail on 1000-byte cells).
    let cell = "c".repeat(1000);
    let text = format!(
        "id,note\n{}",
        (0..5000)
            .map(|i| format!("{i},{cell}\n"))
            .collect::<String>()
    );
    let r = compress_csv(&text, &Options::default()).unwrap();
    assert_eq!(r[1].rows, 5000);
    assert!(r[1].ratio() > 100.0, "{}", r[1].ratio());
}

fn read(text: &str) -> Result<Table, CompressError> {
    read_csv(text.as_bytes(), b',', &mut |_| {})
}

/// The cells of column `i`.
fn column(t: &Table, i: usize) -> Vec<&str> {
    t.columns[i].iter().collect()
}

#[test]
fn csv_reader_handles_quotes_and_line_breaks() {
    let t = read(CSV).unwrap();
    assert_eq!(t.header.len(), 8);
    assert_eq!(t.rows(), 4);
    assert!(t.columns.iter().all(|c| c.len() == 4));
    assert_eq!(
        column(&t, 5),
        ["hello, world", "say \"hi\"", "two\nlines", ""]
    );
    assert_eq!(t.header[7], "count");
    // The csv crate is lenient where RFC 4180 is not: an unterminated
    // quote runs to the end, text after a closing quote is kept.
    assert_eq!(column(&read("a,b\n1,\"x\n").unwrap(), 1), ["x\n"]);
    assert_eq!(column(&read("a,b\n1,\"b\"c\n").unwrap(), 1), ["bc"]);
    // A last record without a line break; blank lines are skipped.
    let t = read("a,b\n\n1,2").unwrap();
    assert_eq!((column(&t, 0), column(&t, 1)), (vec!["1"], vec!["2"]));
}

/// A byte order mark, quoted fields, CRLF line ends and another
/// delimiter: each read back as the cells written.
#[test]
fn bom_quotes_crlf_and_delimiters_round_trip() {
    let cells = [
        ["id", "name;x", "note"],
        ["1", "a \"quoted\" word", "semi;colon"],
        ["2", "line\r\nbreak", ""],
    ];
    for delimiter in [b',', b';', b'\t', b'|'] {
        let d = char::from(delimiter).to_string();
        let mut text = String::from("\u{feff}");
        for row in &cells {
            let quoted: Vec<String> = row
                .iter()
                .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
                .collect();
            text.push_str(&quoted.join(&d));
            text.push_str("\r\n");
        }
        let t = read_csv(text.as_bytes(), delimiter, &mut |_| {}).unwrap();
        assert_eq!(t.header, cells[0], "{delimiter}");
        for (i, _) in cells[0].iter().enumerate() {
            assert_eq!(column(&t, i), [cells[1][i], cells[2][i]], "{delimiter}");
        }
        let opts = Options {
            delimiter,
            ..Options::default()
        };
        let r = compress_csv(&text, &opts).unwrap();
        assert_eq!(r[0].column, "id");
        assert_eq!(r[0].kind, ColumnKind::Int);
    }
    // Unquoted, with CRLF: no '\r' left in the last cell.
    let t = read("\u{feff}a,b\r\n1,x\r\n2,y\r\n").unwrap();
    assert_eq!(t.header, ["a", "b"]);
    assert_eq!(column(&t, 1), ["x", "y"]);
    assert_eq!(parse_delimiter("tab").unwrap(), b'\t');
    for bad in ["", ";;", "\"", "é"] {
        assert!(parse_delimiter(bad).is_err(), "{bad:?}");
    }
}

/// An empty file, and one with only a header, are errors.
#[test]
fn empty_or_header_only_csv_is_an_error() {
    for text in ["", "\u{feff}", "a,b\n", "a,b", "a,b\r\n\r\n"] {
        let err = compress_csv(text, &Options::default()).unwrap_err();
        assert!(
            matches!(err, CompressError::Empty { .. }),
            "{text:?}: {err}"
        );
        assert_eq!(
            unidb_common::Error::from(err).kind(),
            unidb_common::ErrorKind::Validation
        );
    }
}

/// Against epoch values computed by hand (19844 days from 1970-01-01
/// to 2024-05-01).
#[test]
fn timestamps_parse_to_epoch_millis() {
    assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_timestamp("1970-01-02"), Some(86_400_000));
    let may1 = 19_844 * 86_400_000i64 + 10 * 3_600_000;
    assert_eq!(may1, 1_714_557_600_000);
    for (text, want) in [
        ("2024-05-01T10:00:00Z", may1),
        ("2024-05-01t10:00:00z", may1),
        ("2024-05-01 10:00:00.5", may1 + 500),
        ("2024-05-01T10:00", may1),
        ("2024-05-01T12:00:00+02:00", may1),
        ("2024-05-01T05:30-04:30", may1),
        ("2024-05-01T05:30:00.123456-0430", may1 + 123),
        ("1969-12-31T23:59:59.999Z", -1),
        ("1969-12-31T23:59:59.9995Z", -1),
    ] {
        assert_eq!(parse_timestamp(text), Some(want), "{text}");
    }
    for bad in [
        "2024-13-01",
        "2024-02-30",
        "2024-05-01T25:00",
        "2024-05-01X10:00",
        "10:00",
        "2024-05-01T10:00Zx",
        "2024-5-1",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad}");
    }
}

#[test]
fn compresses_an_embedded_csv() {
    let reports = compress_csv(CSV, &Options::default()).unwrap();
    let kinds: Vec<&str> = reports.iter().map(|r| r.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "int",
            "timestamp",
            "float",
            "float",
            "text",
            "text",
            "bool",
            "int"
        ]
    );
    let nulls: Vec<usize> = reports.iter().map(|r| r.nulls).collect();
    assert_eq!(nulls, [0, 0, 1, 1, 0, 1, 1, 1]);
    assert!(reports.iter().all(|r| r.rows == 4 && !r.codec.is_empty()));
    assert_eq!(reports[0].raw_bytes, 32);
    // Only some columns, with a type given.
    let opts = Options {
        columns: vec!["count".into(), "id".into()],
        types: vec![("id".into(), ColumnKind::Float)],
        effort: Effort::Fast,
        ..Options::default()
    };
    let r = compress_csv(CSV, &opts).unwrap();
    assert_eq!(
        r.iter().map(|r| r.column.as_str()).collect::<Vec<_>>(),
        ["count", "id"]
    );
    assert_eq!(r[1].kind, ColumnKind::Float);
    let json = format_reports(&r, true);
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in [
            "column",
            "type",
            "codec",
            "ratio",
            "encode_mb_s",
            "decode_mb_s",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {line}");
        }
    }
    assert!(format_reports(&r, false).contains("count"));
    // Errors name the problem.
    let err = compress_csv(
        CSV,
        &Options {
            columns: vec!["nope".into()],
            ..Options::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("nope") && err.to_string().contains("price"));
    let opts = Options {
        types: vec![("cat".into(), ColumnKind::Int)],
        ..Options::default()
    };
    assert!(matches!(
        compress_csv(CSV, &opts),
        Err(CompressError::BadCell { row: 1, .. })
    ));
    assert!(matches!(
        compress_csv("a,b\n1\n", &Options::default()),
        Err(CompressError::Csv { line: 2, .. })
    ));
    assert!(matches!(
        compress_csv("a,b\n1,2\n3,4\n5\n", &Options::default()),
        Err(CompressError::Csv { line: 4, .. })
    ));
}

#[test]
fn large_mobile_like_columns_compress() {
    // ms timestamps with jitter, increasing ids, 2-decimal prices.
    let mut rng = unidb_common::rng::SplitMix64::new(7);
    let mut rnd = move || rng.next_u64();
    let mut text = String::from("ts,id,price\n");
    for i in 0..20_000i64 {
        let ts = 1_714_557_600_000 + i * 1000 + (rnd() % 41) as i64 - 20;
        text.push_str(&format!(
            "{ts},{},{}.{:02}\n",
            5000 + i,
            rnd() % 500,
            rnd() % 100
        ));
    }
    let r = compress_csv(&text, &Options::default()).unwrap();
    // Jitter of ±20 ms leaves ~5.4 bits per value: well above 8x.
    assert!(r[0].ratio() > 8.0, "{:?}", r[0]);
    assert!(r[1].ratio() > 100.0, "{:?}", r[1]);
    // ~15.6 bits of information per price.
    assert!(r[2].ratio() > 3.5, "{:?}", r[2]);
}

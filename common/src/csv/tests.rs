use super::*;

fn read(text: &str) -> Result<Table, CsvError> {
    read_csv(text.as_bytes(), b',', &mut |_| {})
}

/// Against epoch values computed by hand (19844 days from 1970-01-01 to
/// 2024-05-01), to the nanosecond.
#[test]
fn timestamps_parse_to_epoch_nanos() {
    let may1 = (19_844 * 86_400 + 10 * 3_600) as i128 * 1_000_000_000;
    for (text, want) in [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-02", 86_400_000_000_000),
        ("2024-05-01T10:00:00Z", may1),
        ("2024-05-01 10:00:00.000000001", may1 + 1),
        ("2024-05-01T12:00:00.123456789+02:00", may1 + 123_456_789),
        ("1969-12-31T23:59:59.999999999Z", -1),
    ] {
        assert_eq!(parse_timestamp_nanos(text), Some(want), "{text}");
    }
    for bad in ["2024-02-30", "10:00", "2024-5-1", "", "1700000000"] {
        assert_eq!(parse_timestamp_nanos(bad), None, "{bad}");
    }
}

#[test]
fn records_are_read_by_column_and_errors_name_the_line() {
    let t = read("a,b\n1,\"x,y\"\n2,z\n").unwrap();
    assert_eq!(t.header, ["a", "b"]);
    assert_eq!(t.rows(), 2);
    assert_eq!(t.columns[1].iter().collect::<Vec<_>>(), ["x,y", "z"]);
    let err = read("a,b\n1,2\n3\n").unwrap_err();
    assert!(matches!(&err, CsvError::Malformed { line: 3, .. }), "{err}");
    assert_eq!(Error::from(err).kind(), ErrorKind::Serialization);
    let err = read("a,b\n").unwrap_err();
    assert!(matches!(err, CsvError::Empty { .. }), "{err}");
}

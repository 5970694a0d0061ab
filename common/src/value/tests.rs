use super::*;

#[test]
fn order_is_total_and_consistent_with_eq() {
    let vals = [
        Value::Null,
        Value::I64(-3),
        Value::I64(7),
        Value::F64(f64::NAN),
        Value::F64(-0.0),
        Value::F64(0.0),
        Value::Text("a".into()),
        Value::Bool(true),
        Value::Bytes(vec![1]),
        Value::Timestamp(5),
    ];
    for a in &vals {
        for b in &vals {
            assert_eq!(a.cmp(b), b.cmp(a).reverse());
            assert_eq!(a == b, a.cmp(b) == Ordering::Equal);
        }
    }
    assert_eq!(Value::F64(f64::NAN), Value::F64(f64::NAN));
    assert!(Value::F64(-0.0) < Value::F64(0.0));
    assert!(Value::I64(7) > Value::I64(-3));
}

#[test]
fn describe_cuts_long_values() {
    let long = Value::Text("x".repeat(500));
    assert!(long.describe().len() < 80);
    assert_eq!(Value::I64(3).describe(), "3");
}

use super::fit_step;

#[test]
fn step_rounds_to_nearest() {
    assert_eq!(fit_step(&[0, 10]), 10);
    assert_eq!(fit_step(&[0, 5, 11]), 6); // 5.5 rounds away from zero
    assert_eq!(fit_step(&[0, 5, -11]), -6);
    assert_eq!(fit_step(&[0, 0, 1]), 1); // 0.5
    assert_eq!(fit_step(&[0, 0, 0, 1]), 0); // 0.33
    assert_eq!(fit_step(&[i64::MIN, i64::MAX]), i64::MAX);
    assert_eq!(fit_step(&[i64::MAX, i64::MIN]), i64::MIN);
}

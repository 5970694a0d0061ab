use super::*;

#[test]
fn backoff_doubles_to_its_cap_and_jitters_below() {
    let b = Backoff {
        attempts: 9,
        base: Duration::from_millis(100),
        cap: Duration::from_secs(1),
        jitter: 0.5,
    };
    let waits: Vec<u128> = (0..6).map(|n| b.wait(n, 0.0).as_millis()).collect();
    assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
    assert_eq!(b.wait(2, 1.0), Duration::from_millis(200));
    assert_eq!(b.wait(2, 0.5), Duration::from_millis(300));
    assert_eq!(b.wait(200, 0.0), Duration::from_secs(1), "no overflow");
}

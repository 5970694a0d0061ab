//! Peak memory of `unidb compress` on hostile CSV text (megabytes of
//! commas), measured with a counting global allocator in its own test
//! binary: refused or reported per column within a bounded multiple of the
//! input.

use unidb_common::alloc::PeakAlloc;

use unidb_cli::compress::{compress_csv, Options};

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc::new();

/// Peak bytes per input byte allowed, plus 1 MiB. Measured: 0.2 MB for
/// the 4 MiB record (refused as soon as the parser runs out of room for
/// field ends) and 73 MB for the 4 MiB of records (cells stored per column,
/// one buffer each).
const PER_BYTE: usize = 24;

fn peak_of<T>(f: impl FnOnce() -> T) -> usize {
    ALLOC.peak_of(|| drop(f())).1
}

#[test]
fn commas_stay_within_a_bounded_multiple_of_the_input() {
    let one_record = ",".repeat(4 << 20);
    let records = format!("a,b\n{}", ",\n".repeat(2 << 20));
    for (name, text, ok) in [
        ("one record", &one_record, false),
        ("records", &records, true),
    ] {
        let peak = peak_of(|| {
            let r = compress_csv(text, &Options::default());
            assert_eq!(r.is_ok(), ok, "{name}: {r:?}");
        });
        let bound = PER_BYTE * text.len() + (1 << 20);
        println!("{name}: {} bytes, peak {peak}, bound {bound}", text.len());
        assert!(peak <= bound, "{name}: peak {peak} over {bound}");
    }
}

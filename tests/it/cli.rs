use unidb_kernels::{Isa, Kernels};

#[test]
fn info_names_the_active_path() {
    let report = unidb::cli::info().expect("UNIDB_ISA is unset or valid in tests");
    let active = Kernels::active().isa();
    assert!(report.contains(&format!("active path: {active}")), "{report}");
    for isa in Isa::available() {
        assert!(report.contains(isa.name()), "{report}");
    }
}

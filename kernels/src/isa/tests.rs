use super::*;

#[test]
fn names_round_trip() {
    for isa in Isa::ALL {
        assert_eq!(isa.to_string().parse::<Isa>().unwrap(), isa);
        assert_eq!(isa.name().to_uppercase().parse::<Isa>().unwrap(), isa);
    }
    assert!(matches!(
        "sse9".parse::<Isa>(),
        Err(KernelError::UnknownIsa { .. })
    ));
}

#[test]
fn available_is_ordered_and_contains_reference() {
    let paths = Isa::available();
    assert_eq!(paths.last(), Some(&Isa::Scalar));
    assert!(paths.contains(&Isa::Portable));
    assert_eq!(paths[0], Isa::best());
    for isa in Isa::ALL {
        assert_eq!(paths.contains(&isa), isa.is_available());
    }
}

#[test]
fn unavailable_path_is_an_error() {
    for isa in Isa::ALL {
        let parsed = Isa::parse_available(isa.name());
        if isa.is_available() {
            assert_eq!(parsed.unwrap(), isa);
        } else {
            assert!(matches!(parsed, Err(KernelError::UnavailableIsa { .. })));
        }
    }
}

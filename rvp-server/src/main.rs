//! `rvp-server`: the reference RVP home server (being built: see issue 5).

fn main() {}

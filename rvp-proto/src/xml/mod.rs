//! The XML bodies of RVP (reference §4).

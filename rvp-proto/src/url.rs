//! Node URLs: logical, physical and local-node forms (reference §1.2, §7.2).

//! The MIME payloads carried in `r:mime-data` (reference §6).

//! Safe archive extraction.

//! Integration tests of yoe-extract: one binary, one module per concern.

mod detection;
mod fixtures;
mod props;
mod roundtrip;
mod staging;
mod tar_refusals;
mod zip_refusals;

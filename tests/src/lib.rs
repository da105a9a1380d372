//! Test harness: starts real nodes on ephemeral ports.

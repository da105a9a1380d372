//! Backrunner custom resource types (issue 5, not yet built).
